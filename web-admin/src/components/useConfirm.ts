/**
 * Asks a question in a ConfirmDialog and waits for the answer:
 * `const [confirm, dialog] = useConfirm()`, render `dialog`, then `if (await confirm({...}))`.
 */

import { type ReactNode, createElement, useCallback, useState } from "react";

import { ConfirmDialog, type ConfirmRequest } from "./ConfirmDialog";

interface Pending extends ConfirmRequest {
  resolve: (ok: boolean) => void;
}

export function useConfirm(): [(req: ConfirmRequest) => Promise<boolean>, ReactNode] {
  const [pending, setPending] = useState<Pending | null>(null);
  const confirm = useCallback(
    (req: ConfirmRequest) => new Promise<boolean>((resolve) => setPending({ ...req, resolve })),
    [],
  );
  const answer = (ok: boolean): void => {
    pending?.resolve(ok);
    setPending(null);
  };
  const dialog = pending ? createElement(ConfirmDialog, { request: pending, onAnswer: answer }) : null;
  return [confirm, dialog];
}
