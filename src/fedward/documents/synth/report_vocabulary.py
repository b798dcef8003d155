"""Vocabulary of diagnostic reports: laboratory panels with units and reference ranges, imaging
examinations with findings and impressions, and surgical pathology cases.

Plain data written for this generator; values and ranges are typical adult ranges, good enough to make a
results table look real, not to interpret one.
"""

from __future__ import annotations

__all__ = [
    "FINDING_LINES",
    "IMAGING_EXAMS",
    "IMPRESSIONS",
    "LAB_PANELS",
    "MICROSCOPY",
    "PATH_CASES",
    "LabTest",
]

# (name, unit, low, high, decimals)
LabTest = tuple[str, str, float, float, int]
LAB_PANELS: tuple[tuple[str, tuple[LabTest, ...]], ...] = (
    (
        "HAEMATOLOGY",
        (
            ("Haemoglobin", "g/dL", 12.0, 16.0, 1),
            ("White cell count", "x10*9/L", 4.0, 11.0, 1),
            ("Platelets", "x10*9/L", 150, 400, 0),
            ("Red cell count", "x10*12/L", 4.2, 5.6, 2),
            ("Haematocrit", "%", 36.0, 46.0, 1),
            ("MCV", "fL", 80, 100, 0),
            ("MCH", "pg", 27.0, 33.0, 1),
            ("Neutrophils", "x10*9/L", 2.0, 7.5, 1),
            ("Lymphocytes", "x10*9/L", 1.0, 4.0, 1),
            ("Monocytes", "x10*9/L", 0.2, 0.8, 2),
            ("Eosinophils", "x10*9/L", 0.0, 0.4, 2),
        ),
    ),
    (
        "CLINICAL CHEMISTRY",
        (
            ("Sodium", "mmol/L", 135, 145, 0),
            ("Potassium", "mmol/L", 3.5, 5.1, 1),
            ("Chloride", "mmol/L", 98, 107, 0),
            ("Bicarbonate", "mmol/L", 22, 29, 0),
            ("Urea", "mmol/L", 2.5, 7.8, 1),
            ("Creatinine", "umol/L", 60, 110, 0),
            ("eGFR", "mL/min/1.73m2", 90, 120, 0),
            ("Glucose, fasting", "mmol/L", 3.9, 5.6, 1),
            ("Calcium, adjusted", "mmol/L", 2.15, 2.55, 2),
            ("Magnesium", "mmol/L", 0.70, 1.00, 2),
            ("Phosphate", "mmol/L", 0.80, 1.50, 2),
            ("Albumin", "g/L", 35, 50, 0),
            ("C-reactive protein", "mg/L", 0, 5, 0),
        ),
    ),
    (
        "LIVER FUNCTION",
        (
            ("Bilirubin, total", "umol/L", 3, 21, 0),
            ("ALT", "U/L", 7, 56, 0),
            ("AST", "U/L", 10, 40, 0),
            ("Alkaline phosphatase", "U/L", 40, 129, 0),
            ("GGT", "U/L", 8, 61, 0),
            ("Total protein", "g/L", 60, 80, 0),
        ),
    ),
    (
        "LIPIDS",
        (
            ("Cholesterol, total", "mmol/L", 0, 5.2, 1),
            ("LDL cholesterol", "mmol/L", 0, 3.4, 1),
            ("HDL cholesterol", "mmol/L", 1.0, 2.2, 1),
            ("Triglycerides", "mmol/L", 0, 1.7, 1),
        ),
    ),
    (
        "ENDOCRINE",
        (
            ("TSH", "mU/L", 0.4, 4.0, 2),
            ("Free T4", "pmol/L", 10, 22, 1),
            ("HbA1c", "mmol/mol", 20, 42, 0),
            ("Ferritin", "ug/L", 30, 400, 0),
            ("Vitamin B12", "ng/L", 200, 900, 0),
        ),
    ),
    (
        "COAGULATION",
        (
            ("Prothrombin time", "s", 11.0, 13.5, 1),
            ("INR", "", 0.8, 1.2, 1),
            ("APTT", "s", 25, 35, 0),
            ("Fibrinogen", "g/L", 2.0, 4.0, 1),
            ("D-dimer", "ng/mL", 0, 500, 0),
        ),
    ),
    (
        "CARDIAC MARKERS",
        (
            ("Troponin I, high sensitivity", "ng/L", 0, 34, 0),
            ("NT-proBNP", "pg/mL", 0, 125, 0),
            ("Creatine kinase", "U/L", 40, 320, 0),
            ("Lactate", "mmol/L", 0.5, 2.2, 1),
        ),
    ),
)

IMAGING_EXAMS: tuple[tuple[str, str], ...] = (
    ("CT HEAD WITHOUT CONTRAST", "head"),
    ("CHEST X-RAY, PA AND LATERAL", "chest"),
    ("CT PULMONARY ANGIOGRAM", "chest"),
    ("ULTRASOUND ABDOMEN, COMPLETE", "abdomen"),
    ("CT ABDOMEN AND PELVIS WITH CONTRAST", "abdomen"),
    ("MRI LUMBAR SPINE WITHOUT CONTRAST", "spine"),
    ("MRI BRAIN WITH AND WITHOUT CONTRAST", "head"),
    ("X-RAY LEFT WRIST, 3 VIEWS", "bone"),
    ("X-RAY RIGHT KNEE, 2 VIEWS", "bone"),
    ("DOPPLER ULTRASOUND, LOWER LIMB VEINS", "vessels"),
)

# region -> (label, finding sentence) lines of a structured radiology report
FINDING_LINES: dict[str, tuple[tuple[str, str], ...]] = {
    "head": (
        ("Brain", "No acute intracranial haemorrhage, mass effect or midline shift."),
        ("Ventricles", "Ventricles and sulci are appropriate for age."),
        (
            "White matter",
            "Mild periventricular white matter hypodensity, likely chronic small vessel change.",
        ),
        ("Extra-axial", "No extra-axial collection."),
        ("Skull", "The calvarium is intact."),
        ("Sinuses", "Mucosal thickening in the left maxillary sinus."),
    ),
    "chest": (
        ("Lungs", "Patchy consolidation in the right lower lobe; the left lung is clear."),
        ("Pleura", "Small right pleural effusion. No pneumothorax."),
        ("Heart", "Heart size is within normal limits."),
        ("Mediastinum", "Mediastinal contours are normal."),
        ("Pulmonary arteries", "No filling defect to the segmental level."),
        ("Bones", "No acute osseous abnormality."),
    ),
    "abdomen": (
        ("Liver", "Normal in size with no focal lesion."),
        ("Gallbladder", "Multiple calculi, the largest 14 mm; no wall thickening."),
        ("Bile ducts", "Common bile duct measures 5 mm."),
        ("Pancreas", "Unremarkable where visualized."),
        ("Kidneys", "Both kidneys are normal in size without hydronephrosis."),
        ("Bowel", "No obstruction. Sigmoid diverticulosis without inflammation."),
    ),
    "spine": (
        ("Alignment", "Normal lumbar lordosis."),
        ("L4-L5", "Broad-based disc bulge with mild bilateral foraminal narrowing."),
        ("L5-S1", "Left paracentral disc protrusion contacting the traversing left S1 nerve root."),
        ("Conus", "The conus terminates normally at L1."),
        ("Marrow", "Normal marrow signal."),
    ),
    "bone": (
        ("Fracture", "Nondisplaced transverse fracture of the distal radial metaphysis."),
        ("Alignment", "Anatomical alignment is maintained."),
        ("Joints", "Joint spaces are preserved."),
        ("Soft tissues", "Mild soft tissue swelling."),
    ),
    "vessels": (
        ("Common femoral vein", "Compressible with normal phasic flow."),
        ("Femoral vein", "Non-compressible with echogenic intraluminal thrombus."),
        ("Popliteal vein", "Partially compressible; thrombus extends into the popliteal vein."),
        ("Calf veins", "Not well visualized."),
    ),
}

IMPRESSIONS: dict[str, tuple[str, ...]] = {
    "head": (
        "No acute intracranial abnormality.",
        "Chronic small vessel ischaemic change.",
        "Left maxillary sinus disease.",
    ),
    "chest": (
        "Right lower lobe consolidation in keeping with pneumonia.",
        "Small right pleural effusion.",
        "No pulmonary embolism.",
    ),
    "abdomen": (
        "Cholelithiasis without sonographic evidence of cholecystitis.",
        "Sigmoid diverticulosis without diverticulitis.",
        "No hydronephrosis.",
    ),
    "spine": (
        "L5-S1 left paracentral disc protrusion contacting the left S1 nerve root.",
        "Mild degenerative change at L4-L5.",
    ),
    "bone": ("Nondisplaced fracture of the distal radius.", "Recommend follow-up radiographs in 10-14 days."),
    "vessels": ("Acute deep vein thrombosis of the left femoral and popliteal veins.",),
}

# (specimen, final diagnosis, gross description lead)
PATH_CASES: tuple[tuple[str, str, str], ...] = (
    (
        "Skin, left forearm, shave biopsy",
        "Basal cell carcinoma, nodular type; peripheral and deep margins clear",
        "a tan-pink shave of skin measuring 0.8 x 0.6 x 0.2 cm",
    ),
    (
        "Colon, sigmoid, polypectomy",
        "Tubular adenoma; negative for high-grade dysplasia",
        "a pedunculated polyp measuring 1.2 x 0.9 x 0.7 cm with a 0.4 cm stalk",
    ),
    (
        "Gallbladder, cholecystectomy",
        "Chronic cholecystitis with cholelithiasis",
        "an opened gallbladder measuring 8.5 x 3.0 cm containing multiple yellow-green calculi",
    ),
    (
        "Appendix, appendectomy",
        "Acute suppurative appendicitis with periappendicitis",
        "a vermiform appendix measuring 6.5 cm in length with a congested serosa",
    ),
    (
        "Breast, right, core needle biopsy",
        "Invasive ductal carcinoma, grade 2 (Nottingham score 6/9)",
        "four cores of tan-white tissue ranging from 1.0 to 1.6 cm in length",
    ),
    (
        "Prostate, needle biopsies (12 cores)",
        "Prostatic adenocarcinoma, Gleason score 3+4=7 (Grade Group 2)",
        "twelve cores of tan tissue ranging from 0.8 to 1.7 cm in length",
    ),
    (
        "Stomach, antrum, biopsy",
        "Chronic active gastritis; Helicobacter pylori organisms identified",
        "three fragments of tan mucosa measuring up to 0.3 cm",
    ),
    (
        "Lymph node, left axillary, excision",
        "Reactive follicular hyperplasia; negative for metastatic carcinoma (0/1)",
        "a lymph node measuring 1.8 x 1.1 x 0.9 cm with a homogeneous cut surface",
    ),
    (
        "Endometrium, curettage",
        "Proliferative endometrium; no hyperplasia or malignancy",
        "multiple fragments of red-tan tissue aggregating to 2.0 x 1.5 x 0.3 cm",
    ),
    (
        "Thyroid, left lobe, lobectomy",
        "Follicular adenoma; no capsular or vascular invasion",
        "a thyroid lobe weighing 18 g and measuring 5.0 x 2.8 x 2.2 cm",
    ),
)

MICROSCOPY: tuple[str, ...] = (
    "Sections show a proliferation of atypical cells arranged in nests and cords.",
    "The surface epithelium shows mucin depletion and nuclear stratification.",
    "There is a dense mixed inflammatory infiltrate with neutrophils extending into the muscularis propria.",
    "Immunohistochemistry is performed with appropriate controls.",
    "No lymphovascular invasion is identified.",
    "Margins are examined and are free of involvement.",
    "The background tissue shows chronic inflammation and fibrosis.",
    "Mitotic figures are infrequent and no necrosis is seen.",
    "Special stains for organisms are reviewed.",
    "Deeper levels have been examined.",
)
