/**
 * What a farm page says when the server ended its subscription: the user has no role on
 * the farm (`forbidden`), or there is no such farm (`not_found`). Said at once, instead
 * of waiting for live data that will not come.
 */

import { Link } from "react-router-dom";

import { useI18n } from "../i18n";
import type { Unavailable } from "../store/access";


export function FarmUnavailable({ farmId, reason }: { farmId: number; reason: Unavailable }) {
  const { t } = useI18n();
  const forbidden = reason === "forbidden";
  return (
    <section className="farm" data-testid="farm-unavailable" data-reason={reason} data-farm={farmId}>
      <Link to="/" className="crumb">
        {t("farm.back")}
      </Link>
      <p className="error" role="alert">
        {forbidden ? t("farm.forbidden") : t("farm.notFound")}
      </p>
      <p className="muted">{forbidden ? t("farm.forbiddenHint") : t("farm.notFoundHint")}</p>
    </section>
  );
}
