"""The Results page's tables of the Peptides and proteins workflow, from the tools' output.

Run by the workflow as a script, so it must not depend on being imported as part of the package::

    python tables.py --ids A.idXML B.idXML --samples A B --conditions ctrl treated --mztab X.mzTab
        --psms psms.tsv --peptides peptides.tsv --proteins proteins.tsv --per-sample samples.tsv
        --counts counts.tsv

The PSMs come from each sample's identifications at the PSM FDR (idXML, read with pyOpenMS); the
peptides are their distinct sequences (modifications included) with PSMs per sample; the proteins
are ProteomicsLFQ's quantified proteins and groups (the mzTab's PRT rows), one abundance column per
sample, most abundant first. The page reads only these small tables, never the tools' files.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pandas as pd
import pyopenms as oms

PEP_SCORE = "Posterior Error Probability_score"
#: Column name prefixes of the per-sample columns (the Results page finds the samples by them).
ABUNDANCE, PSMS = "abundance_", "psms_"
#: The PRT rows that carry abundances (the others repeat a protein's details without them).
QUANTIFIED_ROWS = ("single_protein", "indistinguishable_protein_group", "protein_group")
#: The PSM table's columns: where the PSM was found, what it is, and how sure.
PSM_COLUMNS = ["sample", "condition", "spectrum", "rt", "mz", "charge"]
PSM_COLUMNS += ["sequence", "proteins", "q_value", "pep"]


def psm_rows(path: Path, sample: str, condition: str) -> list[dict]:
    """One row per PSM (the best hit of each identified spectrum) of one sample."""
    proteins: list = []
    peptides = oms.PeptideIdentificationList()
    oms.IdXMLFile().load(str(path), proteins, peptides)
    rows = []
    for spectrum in peptides:
        if not spectrum.getHits():
            continue
        hit = spectrum.getHits()[0]
        rows.append(
            {
                "sample": sample,
                "condition": condition,
                "spectrum": str(spectrum.getMetaValue("spectrum_reference") or ""),
                "rt": round(spectrum.getRT(), 2),
                "mz": round(spectrum.getMZ(), 5),
                "charge": hit.getCharge(),
                "sequence": hit.getSequence().toString(),
                "proteins": ";".join(sorted({e.getProteinAccession() for e in hit.getPeptideEvidences()})),
                "q_value": hit.getScore(),
                "pep": float(hit.getMetaValue(PEP_SCORE)) if hit.metaValueExists(PEP_SCORE) else None,
            }
        )
    return rows


def peptide_table(psms: pd.DataFrame, samples: list[str]) -> pd.DataFrame:
    """Distinct peptide sequences (modifications included) with their PSMs in each sample."""
    if psms.empty:
        return pd.DataFrame(columns=["sequence", "proteins", "best_q_value", *[PSMS + s for s in samples]])
    counts = psms.pivot_table(index="sequence", columns="sample", values="spectrum", aggfunc="count")
    counts = counts.reindex(columns=samples).fillna(0).astype(int).add_prefix(PSMS)
    best = psms.groupby("sequence").agg(proteins=("proteins", "first"), best_q_value=("q_value", "min"))
    table = best.join(counts).reset_index()
    table["samples"] = (table[[PSMS + s for s in samples]] > 0).sum(axis=1)
    return table.sort_values(["samples", "best_q_value"], ascending=[False, True], ignore_index=True)


def read_prt(path: Path) -> pd.DataFrame:
    """The protein section of an mzTab file (PRH header, PRT rows), "null" as missing."""
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.startswith(("PRH", "PRT"))]
    if not lines:
        return pd.DataFrame()
    return pd.read_csv(io.StringIO("\n".join(lines)), sep="\t", na_values=["null"], keep_default_na=False)


def protein_table(mztab: Path, samples: list[str], psms: pd.DataFrame) -> pd.DataFrame:
    """ProteomicsLFQ's quantified proteins: accession, q-value, coverage, abundance per sample."""
    prt = read_prt(mztab)
    if prt.empty:
        return pd.DataFrame(columns=["protein", "description", *[ABUNDANCE + s for s in samples]])
    prt = prt[prt["opt_global_result_type"].isin(QUANTIFIED_ROWS)]
    decoy = prt.get("opt_global_cv_PRIDE:0000303_decoy_hit", pd.Series(0, index=prt.index))
    prt = prt[decoy.fillna(0).astype(int) == 0]
    table = pd.DataFrame(
        {
            "protein": prt["accession"].astype(str),
            "description": prt["description"].fillna(""),
            "members": prt["ambiguity_members"].fillna(prt["accession"]).astype(str),
            "q_value": pd.to_numeric(prt["best_search_engine_score[1]"], errors="coerce"),
            "coverage": pd.to_numeric(prt["protein_coverage"], errors="coerce").round(3),
        }
    )
    for index, sample in enumerate(samples, start=1):
        column = prt.get(f"protein_abundance_assay[{index}]", pd.Series(float("nan"), index=prt.index))
        table[ABUNDANCE + sample] = pd.to_numeric(column, errors="coerce").fillna(0.0)
    for sample in samples:
        table[PSMS + sample] = table["members"].map(_psm_counter(psms, sample))
    abundances = table[[ABUNDANCE + s for s in samples]]
    table["samples"] = (abundances > 0).sum(axis=1)
    order = abundances.mean(axis=1).sort_values(ascending=False).index
    return table.loc[order].reset_index(drop=True)


def sample_table(
    samples: list[str], conditions: list[str], psms: pd.DataFrame, proteins: pd.DataFrame
) -> pd.DataFrame:
    """Per sample: its condition, PSMs, distinct peptides and quantified proteins."""
    rows = []
    for sample, condition in zip(samples, conditions, strict=True):
        mine = psms[psms["sample"] == sample]
        quantified = proteins[ABUNDANCE + sample] > 0 if ABUNDANCE + sample in proteins else []
        rows.append(
            {
                "sample": sample,
                "condition": condition,
                "psms": len(mine),
                "peptides": mine["sequence"].nunique(),
                "proteins": int(sum(quantified)),
            }
        )
    return pd.DataFrame(rows)


def _psm_counter(psms: pd.DataFrame, sample: str):
    """How many of a sample's PSMs name one of a protein group's members (``a,b`` or ``a;b``)."""
    mine = psms[psms["sample"] == sample]["proteins"] if not psms.empty else pd.Series(dtype=str)
    sets = [set(text.split(";")) for text in mine]

    def count(members: str) -> int:
        wanted = set(members.replace(",", ";").split(";"))
        return sum(1 for found in sets if found & wanted)

    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("ids", "samples", "conditions"):
        parser.add_argument(f"--{name}", nargs="+", required=True)
    for name in ("mztab", "psms", "peptides", "proteins", "per-sample", "counts"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    args = parser.parse_args(argv)
    if not len(args.ids) == len(args.samples) == len(args.conditions):
        parser.error("--ids, --samples and --conditions need one entry per sample each")
    rows = []
    for path, sample, condition in zip(args.ids, args.samples, args.conditions, strict=True):
        rows += psm_rows(Path(path), sample, condition)
    psms = pd.DataFrame(rows, columns=PSM_COLUMNS)
    peptides = peptide_table(psms, args.samples)
    proteins = protein_table(args.mztab, args.samples, psms)
    per_sample = sample_table(args.samples, args.conditions, psms, proteins)
    written = ((psms, args.psms), (peptides, args.peptides), (proteins, args.proteins))
    for frame, path in (*written, (per_sample, args.per_sample)):
        frame.to_csv(path, sep="\t", index=False)
    counts = {"psms": len(psms), "peptides": len(peptides), "proteins": len(proteins)}
    pd.DataFrame([counts]).to_csv(args.counts, sep="\t", index=False)
    print(per_sample.to_string(index=False))
    print(f"In all: {counts['psms']} PSMs, {counts['peptides']} peptides, {counts['proteins']} proteins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
