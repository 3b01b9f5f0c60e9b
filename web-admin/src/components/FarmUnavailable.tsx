/**
 * What a farm page says when the server ended its subscription: the user has no role on
 * the farm (`forbidden`), or there is no such farm (`not_found`). Said at once, instead
 * of waiting for live data that will not come.
 */

import { Link } from "react-router-dom";

import type { Unavailable } from "../store/access";

/** The page's words, in one place. */
const TEXT = {
  back: "← Farms",
  forbidden: "You have no access to this farm.",
  forbiddenHint: "Ask an administrator of the farm for a role on it.",
  notFound: "There is no such farm.",
  notFoundHint: "It may have been deleted.",
};

export function FarmUnavailable({ farmId, reason }: { farmId: number; reason: Unavailable }) {
  const forbidden = reason === "forbidden";
  return (
    <section className="farm" data-testid="farm-unavailable" data-reason={reason} data-farm={farmId}>
      <Link to="/" className="crumb">
        {TEXT.back}
      </Link>
      <p className="error" role="alert">
        {forbidden ? TEXT.forbidden : TEXT.notFound}
      </p>
      <p className="muted">{forbidden ? TEXT.forbiddenHint : TEXT.notFoundHint}</p>
    </section>
  );
}
