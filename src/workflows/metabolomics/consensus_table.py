"""Consensus features (FeatureLinkerUnlabeledKD output) as a table, one column per sample.

Run by the workflow as a script (``python consensus_table.py --in X.consensusXML --out Y.tsv``),
so it must not depend on being imported as part of the package.

After retention time alignment the workflow also passes ``--features`` (the featureXMLs as they
were before alignment, in the order the linker read their aligned versions) and ``--shifts``: a
second table, one row per sample of each consensus feature, with the feature's retention time
before and after alignment and its deviation from the consensus feature's mean either way. The
linked features keep their unique ids through MapRTTransformer, which is how a consensus element
finds its feature's original retention time. Without ``--features`` the output is the table alone.

Reading those featureXMLs is most of an aligned study's time (about 0.2 s a sample), so they are read
on ``--threads`` threads (pyOpenMS lets go of the GIL while it parses) while the consensus map is read;
the workflow gives the step the threads a step alone gets. The tables do not depend on the threads.
"""

from __future__ import annotations

import argparse
import logging
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
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


class _Flat:
    """The consensus map read once into arrays: per consensus feature its position, charge,
    quality and number of samples, and per element (a sample's feature) its consensus feature's
    row, map index, unique id, retention time and intensity. One pass over the map's views (no
    copy of any feature); everything after it is NumPy."""

    def __init__(self, consensus: oms.ConsensusMap) -> None:
        count = consensus.size()
        self.rt, self.mz, self.quality = (np.empty(count) for _ in range(3))
        self.charge, self.n_samples = (np.empty(count, dtype=np.int64) for _ in range(2))
        owner, maps, uids, rts, intensities = [], [], [], [], []
        for row, feature in enumerate(consensus.iter_consensus_feature_views()):
            self.rt[row], self.mz[row] = feature.getRT(), feature.getMZ()
            self.charge[row], self.quality[row] = feature.getCharge(), feature.getQuality()
            elements = feature.getFeatureList()
            self.n_samples[row] = len(elements)
            for element in elements:
                owner.append(row)
                maps.append(element.getMapIndex())
                uids.append(element.getUniqueId())
                rts.append(element.getRT())
                intensities.append(element.getIntensity())
        self.owner = np.asarray(owner, dtype=np.int64)
        self.map_index = np.asarray(maps, dtype=np.int64)
        self.unique_id = np.asarray(uids, dtype=np.uint64)
        self.element_rt = np.asarray(rts, dtype=float)
        self.intensity = np.asarray(intensities, dtype=float)


def _numbered(consensus: oms.ConsensusMap, flat: _Flat) -> tuple[pa.Table, np.ndarray]:
    """The table, and for each feature of the map (in map order) its consensus_id: ids follow the
    table's order (retention time, then m/z), which the shift table must share."""
    names = _sample_names(consensus)
    columns = list(dict.fromkeys(names.values()))  # samples of one name share a column
    column_of = {index: columns.index(name) for index, name in names.items()}
    intensities = np.zeros((len(columns), len(flat.rt)))  # a row per column: each one contiguous
    lookup = np.full(max(column_of, default=-1) + 2, -1, dtype=np.int64)  # map index -> column
    lookup[list(column_of)] = list(column_of.values())
    cells = lookup[np.clip(flat.map_index, -1, len(lookup) - 1)]  # -1: a map of no column header
    known = cells >= 0  # an element of no column header is left out
    intensities[cells[known], flat.owner[known]] = flat.intensity[known]  # a repeated cell: the last wins
    order = np.lexsort((flat.mz, flat.rt))  # by retention time, then m/z; ties keep the map's order
    ids = np.empty(len(order), dtype=np.int64)
    ids[order] = np.arange(len(order))
    base = [np.arange(len(order)), flat.rt[order], flat.mz[order], flat.charge[order]]
    base += [flat.quality[order], flat.n_samples[order]]
    ordered = intensities[:, order]
    by_name = {name: ordered[i] for i, name in enumerate(columns)}
    headers = list(names.values())  # a column per map; maps of one name show the same values
    arrays = [_arrow(a) for a in base + [by_name[name] for name in headers]]
    return pa.Table.from_arrays(arrays, names=BASE_COLUMNS + [f"intensity_{n}" for n in headers]), ids


def _arrow(values: np.ndarray) -> pa.Array:
    """A NumPy column as an Arrow array on the same memory. ``pa.array`` would do the same but
    imports pandas on its first NumPy array (0.3 s of a table that takes 2.5 s on a 31-run map)."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def _read_original(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A featureXML's unique ids, sorted, and each one's retention time (the last feature of an id
    that occurs twice, as a dictionary would keep). pyOpenMS releases the GIL while it reads."""
    reader = oms.FeatureXMLFile()
    options = reader.getOptions()  # a feature's hulls and subordinates are not needed (10 % faster)
    options.setLoadConvexHull(False)
    options.setLoadSubordinates(False)
    reader.setOptions(options)
    feature_map = oms.FeatureMap()
    reader.load(str(path), feature_map)
    uids = np.fromiter((feature.getUniqueId() for feature in feature_map), np.uint64, feature_map.size())
    rts = np.fromiter((feature.getRT() for feature in feature_map), float, feature_map.size())
    order = np.argsort(uids, kind="stable")
    return uids[order], rts[order]


_Original = tuple[np.ndarray, np.ndarray]


def _reading(features: list[Path], threads: int) -> list[Future[_Original]]:
    """Start reading the featureXMLs before alignment on ``threads`` threads (the reads take most of
    an aligned study's table: ~0.2 s a file), while the caller reads the consensus map."""
    pool = ThreadPoolExecutor(max_workers=max(1, threads))
    reads = [pool.submit(_read_original, path) for path in features]
    pool.shutdown(wait=False)  # the threads end with the last read
    return reads


def _rts_before(originals: list[_Original], maps: np.ndarray, uids: np.ndarray) -> np.ndarray:
    """Each element's retention time before alignment (NaN where its map or feature is unknown)."""
    before = np.full(len(maps), np.nan)
    for index, (known, rts) in enumerate(originals):
        rows = np.flatnonzero(maps == index)
        if not len(rows) or not len(known):
            continue
        at = np.searchsorted(known, uids[rows], side="right") - 1  # the last of equal ids
        found = (at >= 0) & (known[np.clip(at, 0, None)] == uids[rows])
        before[rows[found]] = rts[at[found]]
    return before


def shift_table(
    consensus: oms.ConsensusMap, flat: _Flat, ids: np.ndarray, originals: list[_Original]
) -> pa.Table:
    """Per sample of every consensus feature found in two samples or more: its retention time before
    and after alignment, and how far each lies from the mean of the consensus feature's samples."""
    import pandas as pd  # only here: an aligned study's table (pandas' compensated group means)

    names = _sample_names(consensus)
    linked = flat.n_samples[flat.owner] >= 2  # one sample: no deviation to speak of
    maps = flat.map_index[linked]
    labels = np.array([names.get(i, f"map{i}") for i in range(max(names, default=-1) + 1)], dtype=object)
    known = (maps >= 0) & (maps < len(labels))  # a map index of no column header is named by itself
    sample = np.empty(len(maps), dtype=object)
    sample[known] = labels[maps[known]]
    sample[~known] = [f"map{i}" for i in maps[~known]]
    frame = pd.DataFrame(
        {
            "consensus_id": ids[flat.owner[linked]],
            "sample": sample,
            "rt_before": _rts_before(originals, maps, flat.unique_id[linked]),
            "rt_after": flat.element_rt[linked],
        }
    )
    by_feature = frame.groupby("consensus_id")
    frame["shift_before"] = frame["rt_before"] - by_feature["rt_before"].transform("mean")
    frame["shift_after"] = frame["rt_after"] - by_feature["rt_after"].transform("mean")
    frame = frame.sort_values(["consensus_id", "sample"], kind="stable")
    return pa.Table.from_pandas(frame[SHIFT_COLUMNS], preserve_index=False)


def _write_tsv(table: pa.Table, out: Path) -> None:
    """TSV through Arrow's writer (about ten times as fast as pandas' on this table); numbers are
    written in their shortest form that reads back exactly (``0`` for 0.0)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    options = pa_csv.WriteOptions(delimiter="\t", quoting_style="needed", quoting_header="none")
    pa_csv.write_csv(table, str(out), options)


def write_table(
    consensus: Path,
    out: Path,
    features: list[Path] | None = None,
    shifts: Path | None = None,
    threads: int = 1,
) -> int:
    """Write the table as TSV (and the shift table, given the features before alignment); return
    the table's number of rows. ``threads``: how many featureXMLs are read at once."""
    reads = _reading(features, threads) if features and shifts else []
    try:
        loaded = _load(consensus)
        flat = _Flat(loaded)
        table, ids = _numbered(loaded, flat)
        _write_tsv(table, out)
        if reads:
            _write_tsv(shift_table(loaded, flat, ids, [read.result() for read in reads]), shifts)
    finally:
        for read in reads:  # after an error: the reads not begun yet are not made
            read.cancel()
    return table.num_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in", dest="source", required=True, type=Path, help="consensusXML file")
    parser.add_argument("--out", required=True, type=Path, help="TSV file to write")
    parser.add_argument("--features", nargs="+", type=Path, help="featureXMLs before alignment, in map order")
    parser.add_argument("--shifts", type=Path, help="TSV of retention time shifts to write (with --features)")
    parser.add_argument("--threads", type=int, default=1, help="featureXMLs read at once (default 1)")
    args = parser.parse_args(argv)
    if bool(args.features) != bool(args.shifts):
        parser.error("--features and --shifts go together")
    missing = [p for p in [args.source, *(args.features or [])] if not p.is_file()]
    if missing:
        print(f"Error: input file {missing[0]} does not exist.", file=sys.stderr)
        return 1
    try:
        rows = write_table(args.source, args.out, args.features, args.shifts, max(1, args.threads))
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
