"""The tool pages' calculations (src/core/chem) with the real pyOpenMS: known values, the same
values computed by hand (residue masses, pyOpenMS's own classes called directly), OpenMS's BSA
example database (openms-doc), and a message for every bad input."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pyopenms as oms
import pytest
from pyopenms.Constants import PROTON_MASS_U

from src.core import chem
from src.core.errors import UserError

#: OpenMS's example database (Debian's openms-doc), which holds bovine serum albumin.
BSA_FASTA = Path(
    "/usr/share/doc/openms/examples/TOPPAS/data/BSA_Identification/18Protein_SoCe_Tr_detergents_trace.fasta"
)
#: Monoisotopic residue masses (Unimod / NIST), water, for sums by hand.
RESIDUE = {
    "P": 97.052764,
    "E": 129.042593,
    "T": 101.047679,
    "I": 113.084064,
    "D": 115.026943,
    "K": 128.094963,
}
WATER = 18.010565


def bsa_fasta() -> str:
    """ALBU_BOVIN's FASTA entry, header included."""
    assert BSA_FASTA.is_file(), "OpenMS's example data is missing: apt-get install openms-doc"
    entry = next(e for e in BSA_FASTA.read_text().split(">") if "ALBU_BOVIN" in e)
    return ">" + entry


def bsa_sequence() -> str:
    return "".join(bsa_fasta().splitlines()[1:])


# ---- peptide m/z ---------------------------------------------------------------------------------
def test_peptide_mz_of_peptide_at_charge_2_is_the_known_value():
    result = chem.peptide_masses("PEPTIDE", max_charge=3)
    by_hand = sum(RESIDUE[r] for r in "PEPTIDE") + WATER
    assert result.monoisotopic == pytest.approx(by_hand, abs=2e-5)
    row = result.charges.set_index("charge").loc[2]
    assert row["ion"] == "[M+2H]2+"
    assert math.floor(row["m/z"] * 1e4) / 1e4 == 400.6872  # 400.68726
    assert row["m/z"] == pytest.approx((by_hand + 2 * PROTON_MASS_U) / 2, abs=2e-5)
    assert result.formula == "C34H53N7O15"
    assert result.average == pytest.approx(799.824, abs=1e-3)
    assert list(result.charges["charge"]) == [1, 2, 3]


@pytest.mark.parametrize(
    ("text", "written_out", "carbamidomethyl"),
    [
        ("PEPTIDEK", "PEPTIDEK", False),
        ("PEPTIDEM(Oxidation)K", "PEPTIDEM(Oxidation)K", False),
        (".(Acetyl)PEPTIDE", ".(Acetyl)PEPTIDE", False),
        ("peptidem(Oxidation)k", "PEPTIDEM(Oxidation)K", False),  # residues in capitals, names as typed
        ("LCDEFK", "LC(Carbamidomethyl)DEFK", True),  # the checkbox writes the fixed modification
        ("C(Oxidation)CK", "C(Oxidation)C(Carbamidomethyl)K", True),  # but not over another one
        ("SAMPLE M", "SAMPLEM", False),  # white space is ignored
        ("PEPTIDEM[+15.9949]K", "PEPTIDEM(Oxidation)K", False),
    ],
)
def test_peptide_mz_equals_pyopenms_by_hand(text, written_out, carbamidomethyl):
    result = chem.peptide_masses(text, max_charge=chem.MAX_CHARGE, carbamidomethyl=carbamidomethyl)
    expected = oms.AASequence.fromString(written_out)
    assert result.sequence == expected.toString()
    for charge, mz in zip(result.charges["charge"], result.charges["m/z"], strict=True):
        assert mz == pytest.approx(expected.getMZ(int(charge)), abs=1e-9)
    assert result.monoisotopic == pytest.approx(expected.getMonoWeight(), abs=1e-9)
    assert result.formula == expected.getFormula().toString()


# ---- digest --------------------------------------------------------------------------------------
def test_tryptic_digest_of_bsa_has_its_known_peptides_where_they_stand():
    result = chem.digest(bsa_fasta(), "Trypsin", missed_cleavages=0, min_length=6, max_length=40)
    table = result.peptides
    assert result.proteins == 1 and not result.truncated
    assert set(table["protein"]) == {"P02769|ALBU_BOVIN"}
    peptides = set(table["peptide"])
    assert {"LVNELTEFAK", "HLVDEPQNLIK", "YICDNQDTISSK", "AEFVEVTK", "LGEYGFQNALIVR"} <= peptides
    assert "KVPQVSTPTLVEVSR" not in peptides  # one missed cleavage
    assert (table["missed cleavages"] == 0).all()
    assert table["length"].between(6, 40).all()
    sequence = bsa_sequence()
    for row in table.itertuples():
        assert sequence[row.start - 1 : row.end] == row.peptide
    row = table.set_index("peptide").loc["LVNELTEFAK"]
    assert (row["start"], row["end"]) == (66, 75)
    expected = oms.AASequence.fromString("LVNELTEFAK")
    assert row["monoisotopic mass"] == pytest.approx(expected.getMonoWeight(), abs=1e-9)
    for charge in (1, 2, 3):
        assert row[f"m/z {charge}+"] == pytest.approx(expected.getMZ(charge), abs=1e-9)
    assert row["m/z 2+"] == pytest.approx(582.3190, abs=1e-4)


@pytest.mark.parametrize(("missed", "low", "high"), [(0, 1, 10_000), (1, 6, 40), (2, 7, 30)])
def test_digest_counts_equal_proteasedigestion_by_hand(missed, low, high):
    result = chem.digest(bsa_fasta(), "Trypsin", missed, low, high)
    digestion = oms.ProteaseDigestion()
    digestion.setEnzyme("Trypsin")
    digestion.setMissedCleavages(missed)
    expected, _ = digestion.digestUnmodified(bsa_sequence(), low, high)
    assert Counter(result.peptides["peptide"]) == Counter(expected)
    assert result.total == len(expected)
    assert result.peptides["missed cleavages"].max() == missed
    table = result.peptides  # a peptide's missed cleavages are its internal cleavage sites
    for peptide, sites in zip(table["peptide"], table["missed cleavages"], strict=True):
        assert digestion.countInternalCleavageSites(peptide) == sites


def test_every_offered_enzyme_gives_the_peptides_of_proteasedigestion():
    sequence = bsa_sequence()
    assert chem.DEFAULT_ENZYME in chem.enzymes() and "unspecific cleavage" not in chem.enzymes()
    for enzyme in chem.enzymes():
        digestion = oms.ProteaseDigestion()
        digestion.setEnzyme(enzyme)
        digestion.setMissedCleavages(2)
        expected, _ = digestion.digestUnmodified(sequence, 4, 50)
        result = chem.digest(sequence, enzyme, 2, 4, 50)
        assert Counter(result.peptides["peptide"]) == Counter(expected), enzyme


def test_fasta_with_several_entries_and_a_bare_sequence():
    text = ">first protein one\nMKWVTFISLLK\nAYSRGVFR\n\n>second\nPEPTIDEKAAAAR*\n"
    assert [(p.name, p.sequence) for p in chem.parse_proteins(text)] == [
        ("first", "MKWVTFISLLKAYSRGVFR"),
        ("second", "PEPTIDEKAAAAR"),
    ]
    assert chem.parse_proteins("mkwv tfis\nllk") == [chem.Protein("sequence", "MKWVTFISLLK")]
    result = chem.digest(text, min_length=1, max_length=100)
    assert list(result.peptides["protein"].unique()) == ["first", "second"]
    assert "PEPTIDEK" in set(result.peptides["peptide"])


def test_a_digest_lists_at_most_max_rows_and_counts_the_rest():
    result = chem.digest("AK" * 5_000, "Trypsin", missed_cleavages=1, min_length=1, max_length=10)
    assert result.total == 5_000 + 4_999
    assert len(result.peptides) == chem.MAX_DIGEST_ROWS and result.truncated
    tsv = chem.digest_tsv(result).splitlines()
    assert tsv[0].split("\t")[:3] == ["protein", "peptide", "start"]
    assert len(tsv) == chem.MAX_DIGEST_ROWS + 1


# ---- fragment ions -------------------------------------------------------------------------------
def test_fragment_ions_known_values_and_names():
    ions = chem.fragment_ions("PEPTIDEK", ("b", "y"), max_charge=2).set_index("ion")
    assert ions.loc["y1", "m/z"] == pytest.approx(147.1128, abs=1e-4)
    assert ions.loc["y1", "m/z"] == pytest.approx(RESIDUE["K"] + WATER + PROTON_MASS_U, abs=2e-5)
    assert ions.loc["b2", "m/z"] == pytest.approx(RESIDUE["P"] + RESIDUE["E"] + PROTON_MASS_U, abs=2e-5)
    assert ions.loc["b2", "m/z"] == pytest.approx(227.1026, abs=1e-4)
    assert ions.loc["y5++", "charge"] == 2 and ions.loc["y5", "charge"] == 1
    assert set(ions["series"]) == {"b", "y"} and set(ions["loss"]) == {""}
    assert len(ions) == 2 * 2 * 7  # b1..b7 and y1..y7, at charges 1 and 2
    assert ions["m/z"].is_monotonic_increasing


def test_fragment_ions_equal_pyopenms_by_hand():
    text = "SAM(Oxidation)PLER"
    sequence = oms.AASequence.fromString(text)
    ions = chem.fragment_ions(text, chem.ION_TYPES, max_charge=3).set_index("ion")
    kinds = {"a": oms.Residue.ResidueType.AIon, "b": oms.Residue.ResidueType.BIon,
             "c": oms.Residue.ResidueType.CIon, "x": oms.Residue.ResidueType.XIon,
             "y": oms.Residue.ResidueType.YIon, "z": oms.Residue.ResidueType.ZIon}  # fmt: skip
    for series, kind in kinds.items():
        for number in range(1, sequence.size()):
            part = sequence.getPrefix(number) if series in "abc" else sequence.getSuffix(number)
            for charge in (1, 2, 3):
                label = f"{series}{number}" + ("+" * charge if charge > 1 else "")
                assert ions.loc[label, "m/z"] == pytest.approx(part.getMZ(charge, kind), abs=1e-6), label


def test_neutral_losses_only_when_asked():
    with_losses = chem.fragment_ions("PEPTIDEK", ("y",), 1, losses=True)
    assert {"H2O", "NH3"} <= set(with_losses["loss"])
    row = with_losses.set_index("ion").loc["y1-NH3"]
    assert row["m/z"] == pytest.approx(147.112805 - 17.026549, abs=1e-5)
    assert set(chem.fragment_ions("PEPTIDEK", ("y",), 1)["loss"]) == {""}


# ---- isotope patterns ----------------------------------------------------------------------------
def test_isotope_pattern_of_glucose():
    pattern = chem.isotope_pattern("C6H12O6", charge=0)
    first = pattern.peaks.iloc[0]
    assert first["m/z"] == pytest.approx(180.0634, abs=1e-4)
    # the monoisotopic share by hand, from the natural abundances of 12C, 1H and 16O (IUPAC)
    by_hand = 100 * 0.9893**6 * 0.999885**12 * 0.99757**6
    assert first["probability %"] == pytest.approx(by_hand, abs=0.05)
    assert 92 < first["probability %"] < 93 and first["relative abundance %"] == 100
    assert pattern.peaks["probability %"].sum() == pytest.approx(100, abs=0.01)
    assert pattern.formula == "C6H12O6" and pattern.covered == pytest.approx(1, abs=1e-6)
    protonated = chem.isotope_pattern("C6 H12 O6", charge=1).peaks.iloc[0]["m/z"]
    assert protonated == pytest.approx(180.0633904 + PROTON_MASS_U, abs=1e-6)


def test_fine_pattern_resolves_isotopologues_and_merges_them_at_a_resolution():
    fine = chem.isotope_pattern("C6H12O6", charge=0, fine=True)
    exact = fine.peaks
    near_181 = exact[exact["m/z"].between(180.5, 181.5)]
    assert len(near_181) >= 3  # 13C, 17O and 2H apart
    assert near_181["m/z"].round(3).tolist()[0] == pytest.approx(180.0634 + 1.00335, abs=1e-3)
    at_10k = chem.isotope_pattern("C6H12O6", charge=0, fine=True, resolution=10_000)
    merged = at_10k.peaks
    assert len(merged[merged["m/z"].between(180.5, 181.5)]) == 1
    assert len(merged) < len(exact) and at_10k.covered == pytest.approx(fine.covered, abs=1e-9)
    assert merged.iloc[1]["probability %"] == pytest.approx(near_181["probability %"].sum(), abs=1e-3)
    mz, probability = chem.merged(np.array([100.0, 100.001, 101.0]), np.array([0.5, 0.25, 0.25]), 10_000)
    assert mz.tolist() == pytest.approx([(100 * 0.5 + 100.001 * 0.25) / 0.75, 101.0])
    assert probability.tolist() == pytest.approx([0.75, 0.25])


def test_isotope_pattern_of_a_peptide_starts_at_its_mz():
    pattern = chem.isotope_pattern("PEPTIDE", peptide=True, charge=2)
    assert pattern.peaks.iloc[0]["m/z"] == pytest.approx(oms.AASequence.fromString("PEPTIDE").getMZ(2))
    assert pattern.formula == "C34H53N7O15"


# ---- bad inputs ----------------------------------------------------------------------------------
BAD_INPUTS = [
    (lambda: chem.peptide_masses("PEPTXIDE", 2), "'X' is not an amino acid: use the one-letter codes"),
    (lambda: chem.peptide_masses("PEP1", 2), "'1' is not an amino acid"),
    (lambda: chem.peptide_masses("PEPTIDEM(Foo)K", 2), "'Foo' is not a modification OpenMS knows"),
    (lambda: chem.peptide_masses("M(oxidation)", 2), "'oxidation' is not a modification OpenMS knows"),
    (lambda: chem.peptide_masses("(Oxidation)M", 2), "may not fit the residue or the terminus"),
    (lambda: chem.peptide_masses("PEPM(Oxidation", 2), "brackets in the sequence do not match"),
    (lambda: chem.peptide_masses("PEP.TIDE", 2), "A dot stands only at the start or the end"),
    (lambda: chem.peptide_masses("  ", 2), "Enter a peptide sequence"),
    (lambda: chem.peptide_masses("A" * 201, 2), "201 residues; these tools take at most 200"),
    (lambda: chem.peptide_masses("A" * 5_000, 2), "longer than 4,000 characters"),
    (lambda: chem.peptide_masses("PEPTIDE", 11), "charge must be a whole number from 1 to 10"),
    (lambda: chem.peptide_masses("PEPTIDE", 0), "charge must be a whole number from 1 to 10"),
    (lambda: chem.digest("", "Trypsin"), "Paste a protein sequence"),
    (lambda: chem.digest(">empty\n>full\nPEPTIDEK"), "The FASTA entry 'empty' has no sequence"),
    (lambda: chem.digest(">p\nPEPTIDEXK"), "'X' at position 8 of p is not an amino acid"),
    (lambda: chem.digest("A" * 10_001), "10,001 residues together; this page digests at most 10,000"),
    (lambda: chem.digest("PEPTIDEK", min_length=10, max_length=5), "minimum length (10) is larger than"),
    (lambda: chem.digest("PEPTIDEK", missed_cleavages=6), "Missed cleavages must be from 0 to 5"),
    (lambda: chem.digest("PEPTIDEK", "Pepsin B"), "'Pepsin B' is not an enzyme OpenMS knows"),
    (lambda: chem.digest("PEPTIDEK", "unspecific cleavage"), "is not an enzyme OpenMS knows"),
    (lambda: chem.fragment_ions("PEPTIDEK", ()), "Choose at least one ion type"),
    (lambda: chem.fragment_ions("PEPTIDEK", ("q",)), "Unknown ion type 'q'"),
    (lambda: chem.fragment_ions("K", ("b",)), "A single residue has no fragment ions"),
    (lambda: chem.isotope_pattern("C6H12O6x"), "Element symbols start with a capital letter"),
    (lambda: chem.isotope_pattern("Xy2"), "'Xy' is not a chemical element"),
    (lambda: chem.isotope_pattern("C6H12O6+"), "A formula has no signs"),
    (lambda: chem.isotope_pattern("H2O)"), "'H2O)' is not a molecular formula"),
    (lambda: chem.isotope_pattern("(99)C"), "OpenMS cannot read the formula '(99)C'"),
    (lambda: chem.isotope_pattern(""), "Enter a molecular formula"),
    (lambda: chem.isotope_pattern("C5001"), "5,001 atoms; this page takes 1 to 5,000 atoms"),
    (lambda: chem.isotope_pattern("C6H12O6", charge=-1), "charge must be a whole number from 0 to 10"),
    (lambda: chem.isotope_pattern("C6H12O6", fine=True, resolution=5), "Choose a resolution from"),
    (lambda: chem.isotope_pattern("Sn100", fine=True), "choose the coarse pattern"),
    (lambda: chem.isotope_pattern("PEPTIDEB", peptide=True), "'B' is not an amino acid"),
]


@pytest.mark.parametrize(("call", "message"), BAD_INPUTS)
def test_every_bad_input_raises_chem_input_error_with_a_message(call, message):
    with pytest.raises(chem.ChemInputError) as raised:
        call()
    assert message in str(raised.value)
    assert isinstance(raised.value, UserError)
