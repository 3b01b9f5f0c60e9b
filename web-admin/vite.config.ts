/// <reference types="vitest/config" />
// Builds the dashboard into the Python package (src/farmbridge/web), which the bridge
// serves at / and the wheel carries; `npm run dev` proxies the API and /ws to a bridge.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import react from "@vitejs/plugin-react";
import { type Plugin, defineConfig } from "vite";

const outDir = fileURLToPath(new URL("../src/farmbridge/web", import.meta.url));
const bridge = process.env.FARMBRIDGE_DEV_BRIDGE ?? "http://127.0.0.1:8123";

/** Keeps the build out of git: the output dir ignores itself (it is emptied on each build). */
function ignoreOutput(): Plugin {
  return {
    name: "farmbridge-ignore-output",
    apply: "build",
    closeBundle() {
      writeFileSync(`${outDir}/.gitignore`, "# built by web-admin (npm run build)\n*\n");
    },
  };
}

export default defineConfig({
  plugins: [react(), ignoreOutput()],
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      "/api": bridge,
      "/ws": { target: bridge.replace(/^http/, "ws"), ws: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
