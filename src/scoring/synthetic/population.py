"""Static population: debtors with their hidden traits, and the invoices they will receive."""

from __future__ import annotations

import numpy as np

from .params import (
    DEPARTMENT_POP,
    DEPARTMENT_TZ,
    DEPARTMENTS,
    NAF_RISK,
    NAF_WEIGHTS,
    TIMEZONES,
    WorldParams,
)

SECTORS = tuple(NAF_WEIGHTS)
#: shock group of B2C debtors (households) in the sector-shock table
HOUSEHOLD_GROUP = len(SECTORS)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def draw_population(
    n: int, n_days: int, seed: int, p: WorldParams
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Draw ``n`` debtors and their invoices over days ``0 .. n_days-1`` of the window.

    Returns two dicts of equal-length arrays: debtors (observable and hidden columns) and
    invoices (sorted by debtor then issue day; the hidden ``berr`` flag marks billing errors).
    """
    rng = np.random.default_rng([seed, 1])
    b2b = rng.random(n) < p.share_b2b
    nb = int(b2b.sum())
    w = np.array(list(NAF_WEIGHTS.values()))
    sector = np.full(n, -1, dtype=np.int16)
    sector[b2b] = rng.choice(len(w), size=nb, p=w / w.sum())
    size = np.full(n, -1, dtype=np.int8)
    size[b2b] = rng.choice(4, size=nb, p=np.array(p.size_probs) / sum(p.size_probs))
    pop = np.array(list(DEPARTMENT_POP.values()))
    dept = rng.choice(len(pop), size=n, p=pop / pop.sum()).astype(np.int16)
    tz = np.array(
        [TIMEZONES.index(DEPARTMENT_TZ.get(d, "Europe/Paris")) for d in DEPARTMENTS], np.int8
    )[dept]

    # relationship start, in days relative to the window start (day 0)
    new = rng.random(n) < p.share_new
    tenure_y = np.minimum(rng.exponential(p.tenure_mean_years, n) + 0.05, p.tenure_max_years)
    since = -np.round(tenure_y * 365.25).astype(np.int32)
    since[new] = rng.integers(0, max(n_days - 60, 1), size=int(new.sum()))

    # hidden financial health and traits
    health = rng.standard_normal(n)
    sec_risk = np.array(list(NAF_RISK.values()))
    mu = -0.75 * health + np.where(b2b, sec_risk[np.maximum(sector, 0)], 0.1)
    mu += np.where(size == 0, 0.2, 0.0) - np.where(size == 3, 0.35, 0.0)
    mu += np.where(since > -365, 0.25, 0.0) + p.stress_offset
    x0 = rng.standard_normal(n) * (p.stress_sd_week / np.sqrt(1 - p.stress_phi_week**2))
    tenure_now = np.maximum(-since, 0) / 365.25
    forget = rng.beta(1.6, 3.0, n) * np.where(b2b, 1.1, 0.9)
    strategic = rng.beta(1.2, 5.0, n) * np.where(b2b, *p.strategic_scale)
    sens = np.clip(
        rng.beta(2.0, 4.0, n)
        + p.sens_tenure_slope * np.minimum(tenure_now, p.sens_tenure_cap)
        + 0.15 * (health > 0.5),
        0,
        p.sens_max,
    )
    reach = np.stack(
        [
            rng.beta(4, 3, n) * np.where(b2b, 1.05, 0.9),  # email (opened)
            rng.beta(6, 2, n),  # sms (read)
            rng.beta(7, 2, n),  # whatsapp (read)
            rng.beta(3, 3, n) * np.where(b2b, 1.1, 0.9),  # phone (answered at a good time)
            rng.beta(9, 1.5, n),  # letter (opened)
        ],
        axis=1,
    ).clip(0.02, 0.97)
    pref_hour = np.where(
        b2b,
        np.where(rng.random(n) < p.pref_hour_b2b_first, *p.pref_hour_b2b),
        np.where(rng.random(n) < p.pref_hour_b2c_first, *p.pref_hour_b2c),
    ) + rng.normal(0, p.pref_hour_sd, n)
    pref_dow = np.where(b2b, rng.integers(0, 5, n), rng.integers(0, 6, n)).astype(np.int8)

    # business scale and amounts
    med_b2b = np.array(p.amount_b2b_median)[np.maximum(size, 0)]
    scale = np.where(b2b, med_b2b, p.amount_b2c_median) * np.exp(rng.normal(0, 0.5, n))
    capacity = scale * np.where(b2b, 3.0, 2.5)

    # observables derived from hidden traits
    ext = 1000 * _sigmoid(0.4 - 1.0 * (mu + x0) + rng.normal(0, 0.7, n))
    ext = np.round(ext, 0)
    ext[rng.random(n) < np.where(b2b, *p.null_external_score)] = np.nan
    cl = np.where(
        b2b,
        np.round(capacity * rng.uniform(1, 4, n) * np.exp(-0.2 * mu) / 500) * 500,
        np.round(rng.uniform(300, 3000, n) / 100) * 100,
    )
    cl = np.maximum(cl, 0.0)
    cl[rng.random(n) < np.where(b2b, *p.null_credit_limit)] = np.nan
    cb, cc = np.array(p.consent_b2b), np.array(p.consent_b2c)
    consent = rng.random((n, 4)) < np.where(b2b[:, None], cb[None, :], cc[None, :])
    lang_en = rng.random(n) < np.where(b2b, *p.share_en)

    # scenario traits, from their own random stream so that the draws above (and the
    # baseline world) do not depend on them: letter-only debtors, hard strategic payers
    rng2 = np.random.default_rng([seed, 3])
    seg = np.where(b2b, 0, 1)
    reach = (reach * np.asarray(p.reach_mult)[seg]).clip(0.0, 0.97)
    lonly = rng2.random(n) < np.where(b2b, *p.share_letter_only)
    reach[:, :4] *= np.where(lonly, p.letter_only_reach, 1.0)[:, None]
    stype = rng2.random(n) < np.where(b2b, *p.share_strategic_type)
    level = rng2.uniform(*p.strategic_type_level, n)
    strategic = np.where(stype, level, strategic)

    debtors = dict(
        b2b=b2b,
        sector=sector,
        size=size,
        dept=dept,
        tz=tz,
        since=since,
        credit_limit=cl,
        external_score=ext,
        consent=consent,
        lang_en=lang_en,
        mu=mu,
        x0=x0,
        forget=forget,
        strategic=strategic,
        stype=stype,
        lonly=lonly,
        sens=sens,
        reach=reach,
        pref_hour=pref_hour,
        pref_dow=pref_dow,
        capacity=capacity,
        scale=scale,
    )

    # invoices: Poisson count over the active part of the window, uniform issue days
    rate = np.where(b2b, p.invoices_per_month_b2b, p.invoices_per_month_b2c) * np.exp(
        rng.normal(0, 0.6, n)
    )
    first = np.maximum(since, 0)
    active = np.maximum(n_days - first, 0)
    count = rng.poisson(rate * active / 30.44)
    m = int(count.sum())
    unit = np.repeat(np.arange(n, dtype=np.int64), count)
    issue = (first[unit] + np.floor(rng.random(m) * active[unit])).astype(np.int32)
    order = np.lexsort((issue, unit))
    issue = issue[order]
    attrs = _invoice_attributes(rng, unit, b2b, scale, p)
    messy = np.exp(rng.normal(0, 0.8, n) - 0.32)  # debtor-level: master data, contracts
    attrs["berr"] = _billing_errors(rng, b2b[unit], attrs["po"], attrs["chan"], messy[unit], p)
    # what drawing more invoices later needs (extra_days): the debtor's rate and messiness
    debtors["inv_rate"] = rate
    debtors["messy"] = messy
    terms = attrs.pop("terms")
    invoices = dict(unit=unit, issue=issue, due=issue + terms, **attrs)
    return debtors, invoices


def _invoice_attributes(
    rng: np.random.Generator, unit: np.ndarray, b2b: np.ndarray, scale: np.ndarray, p: WorldParams
) -> dict[str, np.ndarray]:
    """Payment terms, amount, purchase-order reference and delivery channel of invoices of the
    debtors ``unit`` (draws in the generator's historical order)."""
    m = len(unit)
    ib2b = b2b[unit]
    terms = np.where(
        ib2b,
        rng.choice(p.terms_b2b, size=m, p=np.array(p.terms_b2b_probs)),
        rng.choice(p.terms_b2c, size=m, p=np.array(p.terms_b2c_probs)),
    ).astype(np.int32)
    amount = scale[unit] * np.exp(
        rng.normal(0, np.where(ib2b, p.amount_b2b_sigma, p.amount_b2c_sigma), m)
        - 0.5 * np.where(ib2b, p.amount_b2b_sigma, p.amount_b2c_sigma) ** 2
    )
    amount = np.maximum(np.round(amount, 2), 5.0)
    po = ib2b & (rng.random(m) < p.po_ref_b2b)
    u = rng.random(m)
    db, dc = np.cumsum(p.delivery_b2b), np.cumsum(p.delivery_b2c)
    chan = np.where(ib2b, np.searchsorted(db / db[-1], u), np.searchsorted(dc / dc[-1], u))
    chan = np.minimum(chan, 2).astype(np.int8)
    return dict(terms=terms, amount=amount, po=po, chan=chan)


def _billing_errors(
    rng: np.random.Generator,
    ib2b: np.ndarray,
    po: np.ndarray,
    chan: np.ndarray,
    messy: np.ndarray,
    p: WorldParams,
) -> np.ndarray:
    """Hidden billing-error flag of each invoice (``messy``: its debtor's messiness)."""
    pb = (
        p.billing_error_base
        + p.billing_error_no_po * (ib2b & ~po)
        + p.billing_error_paper * (chan == 2)
    ) * messy
    return rng.random(len(ib2b)) < pb


def draw_extra_invoices(
    debtors: dict[str, np.ndarray], first_day: int, n_days: int, seed: int, p: WorldParams
) -> dict[str, np.ndarray]:
    """Invoices issued on days ``first_day .. first_day + n_days - 1``, after the window.

    Same law as :func:`draw_population` (each debtor's monthly rate, amounts, terms, channels,
    billing errors), from a random stream of their own: the window's invoices, and so the
    world up to its end, are those of a world drawn without them. Sorted by debtor then issue
    day, like the window's invoices.
    """
    rng = np.random.default_rng([seed, 4])
    b2b = debtors["b2b"]
    n = len(b2b)
    count = rng.poisson(debtors["inv_rate"] * n_days / 30.44)
    m = int(count.sum())
    unit = np.repeat(np.arange(n, dtype=np.int64), count)
    issue = (first_day + np.floor(rng.random(m) * n_days)).astype(np.int32)
    order = np.lexsort((issue, unit))
    issue = issue[order]
    attrs = _invoice_attributes(rng, unit, b2b, debtors["scale"], p)
    attrs["berr"] = _billing_errors(
        rng, b2b[unit], attrs["po"], attrs["chan"], debtors["messy"][unit], p
    )
    terms = attrs.pop("terms")
    return dict(unit=unit, issue=issue, due=issue + terms, **attrs)
