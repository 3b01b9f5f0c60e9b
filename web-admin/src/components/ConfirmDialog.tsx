/**
 * A modal question with Confirm and Cancel (a native <dialog>: focus stays in it, Escape
 * cancels); `useConfirm` (components/useConfirm.ts) asks it. With `typeToConfirm`,
 * Confirm waits until that word is typed.
 */

import { type ReactNode, useEffect, useRef, useState } from "react";

import { useI18n } from "../i18n";
import "../admin.css";

export interface ConfirmRequest {
  title: string;
  /** What happens, in a sentence or a list. */
  body?: ReactNode;
  confirmLabel?: string;
  danger?: boolean;
  /** A word (a farm's name) the user types before Confirm is enabled. */
  typeToConfirm?: string;
}

export function ConfirmDialog({ request, onAnswer }: { request: ConfirmRequest; onAnswer: (ok: boolean) => void }) {
  const { t } = useI18n();
  const ref = useRef<HTMLDialogElement>(null);
  const [typed, setTyped] = useState("");
  useEffect(() => {
    const el = ref.current;
    if (el && !el.open) el.showModal();
  }, []);
  const ready = request.typeToConfirm === undefined || typed.trim() === request.typeToConfirm;
  return (
    <dialog
      ref={ref}
      className="confirm-dialog"
      data-testid="confirm-dialog"
      aria-labelledby="confirm-dialog-title"
      onCancel={(e) => {
        e.preventDefault();
        onAnswer(false);
      }}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (ready) onAnswer(true);
        }}
      >
        <h2 id="confirm-dialog-title">{request.title}</h2>
        {request.body && <div className="confirm-body">{request.body}</div>}
        {request.typeToConfirm !== undefined && (
          <label className="field">
            <span>{t("confirm.typeName", { name: request.typeToConfirm })}</span>
            <input
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
              autoComplete="off"
              data-testid="confirm-type"
              autoFocus
            />
          </label>
        )}
        <div className="row confirm-actions">
          <button type="button" className="btn btn-ghost" onClick={() => onAnswer(false)} data-testid="confirm-cancel">
            {t("common.cancel")}
          </button>
          <button
            type="submit"
            className={`btn ${request.danger ? "btn-danger" : "btn-primary"}`}
            disabled={!ready}
            data-testid="confirm-ok"
            autoFocus={request.typeToConfirm === undefined}
          >
            {request.confirmLabel ?? t("confirm.ok")}
          </button>
        </div>
      </form>
    </dialog>
  );
}
