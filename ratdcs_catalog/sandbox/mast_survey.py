"""MAST rows of the survey sector (universe_survey), fast enough for 20,000 a query.

The rows of a survey star are those ``mast_rows`` makes from its ``Observation`` and
``Product``s (``slow_*`` below): that is the definition, and what downloads use. Making them
that way costs ~0.1 ms a row, seconds for a sector; so rows are made from a template instead:
the slow rows of a first star, with its file-name stem (``tess<stamp>-s0040-<tic16>-<scid>``)
replaced by this star's in every text value, and the few columns that are not names set anew.
Products are templated per stamp shape (a target pixel file's size follows its stamp).
``tests/test_plan_survey.py`` checks that template rows equal slow rows.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

from . import mast_rows, naming
from .universe_survey import SECTOR


class SurveyRows:
    """Observation and product rows of survey star ``index``, made from templates."""

    def __init__(self, universe):
        self.universe = universe
        self.survey = universe.survey

    # ----------------------------------------------------------------- the definition
    def slow_observation(self, index: int):
        """(CAOM row, Observation) made as every other observation's are."""
        star = self.universe.tic_params(self.survey.tid(index))
        (obs,) = self.universe.observations_of("tess", star["ID"])
        return mast_rows.observation_row(obs, self.survey.obsid(index), (star["ra"], star["dec"]),
                                         mast_rows.urls(obs)), obs

    def slow_products(self, index: int) -> list[dict]:
        row, obs = self.slow_observation(index)
        return [mast_rows.product_row(row, obs, p) for p in self.universe.observation_files(obs)]

    # ----------------------------------------------------------------- from templates
    def _stem(self, index: int) -> str:
        return naming.tess_base(self.survey.tid(index), SECTOR)

    @functools.cached_property
    def _observation_template(self) -> tuple[str, dict]:
        return self._stem(0), self.slow_observation(0)[0]

    def observation_row(self, index: int) -> dict:
        stem, template = self._observation_template
        tid = self.survey.tid(index)
        star = self.survey.tic_row(tid)
        row = _restem(template, stem, self._stem(index))
        obsid = self.survey.obsid(index)
        row.update(target_name=mast_rows.target_name("TESS", tid), s_ra=star["ra"], s_dec=star["dec"],
                   s_region=mast_rows.s_region("TESS", star["ra"], star["dec"]), obsid=obsid,
                   objID=1_000_000_000 + obsid % 1_000_000_000, proposal_id=self._proposal_id(tid))
        return row

    @functools.cached_property
    def _product_templates(self) -> dict[tuple, tuple[str, list[dict]]]:
        return {}

    def product_rows(self, index: int) -> list[dict]:
        tid = self.survey.tid(index)
        shape = self.survey.star(tid)["stamp"]
        if shape not in self._product_templates:
            self._product_templates[shape] = (self._stem(index), self.slow_products(index))
        stem, templates = self._product_templates[shape]
        obsid, proposal = self.survey.obsid(index), self._proposal_id(tid)
        rows = [_restem(t, stem, self._stem(index)) for t in templates]
        for row in rows:
            row.update(obsID=obsid, parent_obsid=obsid, proposal_id=proposal)
        return rows

    def _proposal_id(self, tid: int) -> str:
        return mast_rows.proposal_id(SimpleNamespace(mission="TESS", sequence_number=SECTOR, target_id=tid))


def _restem(template: dict, old: str, new: str) -> dict:
    return {k: v.replace(old, new) if isinstance(v, str) else v for k, v in template.items()}
