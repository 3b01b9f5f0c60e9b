import { describe, expect, it } from "vitest";

import { AuthStore, type Session } from "./auth";

const first: Session = { token: "first", username: "grower", expiresAt: 2_000_000_000 };
const fresh: Session = { token: "fresh", username: "grower", expiresAt: 2_000_000_100 };

describe("AuthStore.renew", () => {
  it("drops a sign-out that comes while the fresh token is on its way", async () => {
    const store = new AuthStore();
    store.signIn(first);
    await store.renew(() => {
      store.signOut("Please log in again."); // the old socket closed 4001 first
      expect(store.getState().session).toEqual(first);
      return Promise.resolve(fresh);
    });
    expect(store.getState()).toEqual({ session: fresh, endedBecause: null });
  });

  it("applies the deferred sign-out when the renewal fails", async () => {
    const store = new AuthStore();
    store.signIn(first);
    const failing = store.renew(() => {
      store.signOut("Please log in again.");
      return Promise.reject(new Error("refused"));
    });
    await expect(failing).rejects.toThrow("refused");
    expect(store.getState()).toEqual({ session: null, endedBecause: "Please log in again." });
  });

  it("keeps the session when the renewal fails without a sign-out", async () => {
    const store = new AuthStore();
    store.signIn(first);
    await expect(store.renew(() => Promise.reject(new Error("wrong password")))).rejects.toThrow();
    expect(store.getState().session).toEqual(first);
  });

  it("signs out at once when no renewal runs", () => {
    const store = new AuthStore();
    store.signIn(first);
    store.signOut("bye");
    expect(store.getState()).toEqual({ session: null, endedBecause: "bye" });
  });
});
