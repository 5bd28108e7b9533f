"""Consensus features (FeatureLinkerUnlabeledKD output) as a table, one column per sample.

Run by the workflow as a script (``python consensus_table.py --in X.consensusXML --out Y.tsv``),
so it must not depend on being imported as part of the package.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd
import pyopenms as oms

log = logging.getLogger(__name__)

BASE_COLUMNS = ["consensus_id", "rt", "mz", "charge", "quality", "n_samples"]


def _sample_names(consensus: oms.ConsensusMap) -> dict[int, str]:
    """Column header index -> sample name (the input file's stem, 'map<i>' if unknown)."""
    names = {}
    for index, header in sorted(consensus.getColumnHeaders().items()):
        stem = Path(header.filename).stem if header.filename else ""
        names[index] = stem or f"map{index}"
    return names


def consensus_dataframe(path: Path) -> pd.DataFrame:
    consensus = oms.ConsensusMap()
    oms.ConsensusXMLFile().load(str(path), consensus)
    names = _sample_names(consensus)
    rows = []
    for feature in consensus:
        intensities = dict.fromkeys(names.values(), 0.0)
        for element in feature.getFeatureList():
            intensities[names.get(element.getMapIndex(), f"map{element.getMapIndex()}")] = (
                element.getIntensity()
            )
        rows.append(
            {
                "rt": feature.getRT(),
                "mz": feature.getMZ(),
                "charge": feature.getCharge(),
                "quality": feature.getQuality(),
                "n_samples": len(feature.getFeatureList()),
                **{f"intensity_{name}": value for name, value in intensities.items()},
            }
        )
    frame = pd.DataFrame(rows, columns=BASE_COLUMNS[1:] + [f"intensity_{n}" for n in names.values()])
    frame = frame.sort_values(["rt", "mz"], kind="stable").reset_index(drop=True)
    frame.insert(0, "consensus_id", range(len(frame)))
    return frame


def write_table(consensus: Path, out: Path) -> int:
    """Write the table as TSV and return its number of rows."""
    frame = consensus_dataframe(consensus)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, sep="\t", index=False)
    return len(frame)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in", dest="source", required=True, type=Path, help="consensusXML file")
    parser.add_argument("--out", required=True, type=Path, help="TSV file to write")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"Error: input file {args.source} does not exist.", file=sys.stderr)
        return 1
    try:
        rows = write_table(args.source, args.out)
    except RuntimeError as err:  # pyOpenMS reports unreadable files as RuntimeError
        print(f"Error: could not read {args.source} as consensusXML: {err}", file=sys.stderr)
        return 1
    print(f"Wrote {rows} consensus features to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
