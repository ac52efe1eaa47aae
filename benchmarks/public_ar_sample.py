"""Convert the public "accounts receivable" sample (IBM Watson Analytics, 2,466 invoices of
100 customers, ``WA_Fn-UseC_-Accounts-Receivable.csv``) to a contract data set, to try the
pipeline on real invoices (issue 11: a portfolio where every invoice was paid, no action log).

    python benchmarks/public_ar_sample.py --csv WA_Fn-UseC_-Accounts-Receivable.csv --out DIR

The file is not in this repository (fetch it yourself). What the sample lacks is filled
plainly and said here: customers are B2C (no sector is given), the five country codes become
five départements (391 -> 75, 406 -> 69, 770 -> 13, 818 -> 33, 897 -> 59), the relationship
starts at the customer's first invoice, e-mail and phone consent are given; a disputed invoice
is contested on its due date (or when settled, if earlier), reason ``other``, resolved when
settled. Paper bills are ``paper``, electronic ones ``email``. The actions table is empty.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

DEPARTMENT = {391: "75", 406: "69", 770: "13", 818: "33", 897: "59"}


def convert(csv: str | Path) -> dict[str, pd.DataFrame]:
    raw = pd.read_csv(csv, dtype={"invoiceNumber": str, "customerID": str})

    def day(col: str) -> pd.Series:
        return pd.to_datetime(raw[col], format="%m/%d/%Y").dt.date

    issue, due, settled = day("InvoiceDate"), day("DueDate"), day("SettledDate")
    disputed = raw["Disputed"].eq("Yes")
    contested = pd.Series([min(d, s) for d, s in zip(due, settled, strict=True)])
    invoices = pd.DataFrame(
        {
            "invoice_id": raw["invoiceNumber"],
            "debtor_id": raw["customerID"],
            "issue_date": issue,
            "due_date": due,
            "amount": raw["InvoiceAmount"].astype(float),
            "delivery_channel": raw["PaperlessBill"].map({"Paper": "paper", "Electronic": "email"}),
            "paid_date": settled,
            "dispute_date": contested.where(disputed, None),
            "dispute_reason": pd.Series("other", index=raw.index).where(disputed, None),
            "dispute_resolved_date": settled.where(disputed, None),
        }
    )
    first = invoices.groupby("debtor_id")["issue_date"].min()
    country = raw.groupby("customerID")["countryCode"].first()
    debtors = pd.DataFrame(
        {
            "debtor_id": first.index,
            "segment": "B2C",
            "department": country.reindex(first.index).map(DEPARTMENT).to_numpy(),
            "customer_since": first.to_numpy(),
            "consent_email": True,
            "consent_sms": False,
            "consent_whatsapp": False,
            "consent_phone": True,
        }
    )
    actions = pd.DataFrame(
        {
            "action_id": pd.Series(dtype=str),
            "debtor_id": pd.Series(dtype=str),
            "decided_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "action": pd.Series(dtype=str),
        }
    )
    return {"debtors": debtors, "invoices": invoices, "actions": actions}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in convert(args.csv).items():
        df.to_csv(out / f"{name}.csv", index=False)
        print(f"{name}: {len(df):,} rows")


if __name__ == "__main__":
    main()
