"""Consensus features (FeatureLinkerUnlabeledKD output) as a table, one column per sample.

Run by the workflow as a script (``python consensus_table.py --in X.consensusXML --out Y.tsv``),
so it must not depend on being imported as part of the package.

After retention time alignment the workflow also passes ``--features`` (the featureXMLs as they
were before alignment, in the order the linker read their aligned versions) and ``--shifts``: a
second table, one row per sample of each consensus feature, with the feature's retention time
before and after alignment and its deviation from the consensus feature's mean either way. The
linked features keep their unique ids through MapRTTransformer, which is how a consensus element
finds its feature's original retention time. Without ``--features`` the output is the table alone.
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
SHIFT_COLUMNS = ["consensus_id", "sample", "rt_before", "rt_after", "shift_before", "shift_after"]


def _sample_names(consensus: oms.ConsensusMap) -> dict[int, str]:
    """Column header index -> sample name (the input file's stem, 'map<i>' if unknown)."""
    names = {}
    for index, header in sorted(consensus.getColumnHeaders().items()):
        stem = Path(header.filename).stem if header.filename else ""
        names[index] = stem or f"map{index}"
    return names


def _load(path: Path) -> oms.ConsensusMap:
    consensus = oms.ConsensusMap()
    oms.ConsensusXMLFile().load(str(path), consensus)
    return consensus


def _row(feature: oms.ConsensusFeature, names: dict[int, str]) -> dict[str, object]:
    intensities = dict.fromkeys(names.values(), 0.0)
    for element in feature.getFeatureList():
        intensities[names.get(element.getMapIndex(), f"map{element.getMapIndex()}")] = element.getIntensity()
    return {
        "rt": feature.getRT(),
        "mz": feature.getMZ(),
        "charge": feature.getCharge(),
        "quality": feature.getQuality(),
        "n_samples": len(feature.getFeatureList()),
        **{f"intensity_{name}": value for name, value in intensities.items()},
    }


def _numbered(consensus: oms.ConsensusMap) -> tuple[pd.DataFrame, list[int]]:
    """The table, and for each feature of the map (in map order) its consensus_id: ids follow the
    table's order (retention time, then m/z), which the shift table must share."""
    names = _sample_names(consensus)
    rows = [_row(feature, names) for feature in consensus]
    frame = pd.DataFrame(rows, columns=BASE_COLUMNS[1:] + [f"intensity_{n}" for n in names.values()])
    frame = frame.sort_values(["rt", "mz"], kind="stable")
    ids = [0] * len(frame)
    for consensus_id, position in enumerate(frame.index):
        ids[position] = consensus_id
    frame = frame.reset_index(drop=True)
    frame.insert(0, "consensus_id", range(len(frame)))
    return frame, ids


def _original_rts(features: list[Path]) -> dict[tuple[int, int], float]:
    """(map index, feature unique id) -> retention time in the featureXML before alignment."""
    found = {}
    for index, path in enumerate(features):
        feature_map = oms.FeatureMap()
        oms.FeatureXMLFile().load(str(path), feature_map)
        found.update({(index, feature.getUniqueId()): feature.getRT() for feature in feature_map})
    return found


def shift_dataframe(consensus: oms.ConsensusMap, ids: list[int], features: list[Path]) -> pd.DataFrame:
    """Per sample of every consensus feature found in two samples or more: its retention time before
    and after alignment, and how far each lies from the mean of the consensus feature's samples."""
    names, original = _sample_names(consensus), _original_rts(features)
    rows = []
    for consensus_id, feature in zip(ids, consensus, strict=True):
        elements = list(feature.getFeatureList())
        if len(elements) < 2:
            continue  # one sample: no deviation to speak of
        for element in elements:
            key = (element.getMapIndex(), element.getUniqueId())
            sample = names.get(element.getMapIndex(), f"map{element.getMapIndex()}")
            rows.append((consensus_id, sample, original.get(key, float("nan")), element.getRT()))
    frame = pd.DataFrame(rows, columns=SHIFT_COLUMNS[:4])
    by_feature = frame.groupby("consensus_id")
    frame["shift_before"] = frame["rt_before"] - by_feature["rt_before"].transform("mean")
    frame["shift_after"] = frame["rt_after"] - by_feature["rt_after"].transform("mean")
    return frame.sort_values(["consensus_id", "sample"], kind="stable").reset_index(drop=True)


def write_table(
    consensus: Path, out: Path, features: list[Path] | None = None, shifts: Path | None = None
) -> int:
    """Write the table as TSV (and the shift table, given the features before alignment); return
    the table's number of rows."""
    loaded = _load(consensus)
    frame, ids = _numbered(loaded)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, sep="\t", index=False)
    if features and shifts:
        shifts.parent.mkdir(parents=True, exist_ok=True)
        shift_dataframe(loaded, ids, features).to_csv(shifts, sep="\t", index=False)
    return len(frame)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in", dest="source", required=True, type=Path, help="consensusXML file")
    parser.add_argument("--out", required=True, type=Path, help="TSV file to write")
    parser.add_argument("--features", nargs="+", type=Path, help="featureXMLs before alignment, in map order")
    parser.add_argument("--shifts", type=Path, help="TSV of retention time shifts to write (with --features)")
    args = parser.parse_args(argv)
    if bool(args.features) != bool(args.shifts):
        parser.error("--features and --shifts go together")
    missing = [p for p in [args.source, *(args.features or [])] if not p.is_file()]
    if missing:
        print(f"Error: input file {missing[0]} does not exist.", file=sys.stderr)
        return 1
    try:
        rows = write_table(args.source, args.out, args.features, args.shifts)
    except RuntimeError as err:  # pyOpenMS reports unreadable files as RuntimeError
        print(
            f"Error: could not read {args.source} as consensusXML (or a --features file): {err}",
            file=sys.stderr,
        )
        return 1
    print(f"Wrote {rows} consensus features to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
