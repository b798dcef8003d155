"""Clinical vocabulary for synthetic documents: diagnoses, symptoms, drugs, procedures, insurers, consent.

Plain data, written for this generator (no patient data, no licensed terminology beyond public code
formats). Body text built from it reads like clinical prose, so pages look like real documents at full
resolution, while the class signal a classifier learns stays in the layout. Report-specific terms
(lab panels, imaging findings, pathology cases) live in `report_vocabulary`.
"""

from __future__ import annotations

__all__ = [
    "CONSENT_PROCEDURES",
    "CONSENT_STATEMENTS",
    "DIAGNOSES",
    "DRUGS",
    "EXAM_FINDINGS",
    "INSURERS",
    "PROCEDURES",
    "RISKS",
    "SIGS",
    "SPECIALTIES",
    "SYMPTOMS",
]

# (diagnosis, ICD-10-CM code)
DIAGNOSES: tuple[tuple[str, str], ...] = (
    ("Community-acquired pneumonia", "J18.9"),
    ("Type 2 diabetes mellitus", "E11.9"),
    ("Essential hypertension", "I10"),
    ("Acute myocardial infarction", "I21.9"),
    ("Congestive heart failure", "I50.9"),
    ("COPD with acute exacerbation", "J44.1"),
    ("Atrial fibrillation", "I48.91"),
    ("Urinary tract infection", "N39.0"),
    ("Acute kidney injury", "N17.9"),
    ("Cellulitis of lower limb", "L03.119"),
    ("Acute appendicitis", "K35.80"),
    ("Cholelithiasis", "K80.20"),
    ("Iron deficiency anaemia", "D50.9"),
    ("Asthma, moderate persistent", "J45.40"),
    ("Deep vein thrombosis", "I82.409"),
    ("Pulmonary embolism", "I26.99"),
    ("Transient ischaemic attack", "G45.9"),
    ("Ischaemic stroke", "I63.9"),
    ("Osteoarthritis of knee", "M17.11"),
    ("Fracture of neck of femur", "S72.001A"),
    ("Major depressive disorder", "F32.9"),
    ("Hypothyroidism", "E03.9"),
    ("Gastro-oesophageal reflux disease", "K21.9"),
    ("Sepsis, unspecified organism", "A41.9"),
    ("Chronic kidney disease, stage 3", "N18.30"),
    ("Migraine without aura", "G43.009"),
    ("Acute diverticulitis", "K57.32"),
    ("Acute pancreatitis", "K85.90"),
    ("Hyperlipidaemia", "E78.5"),
    ("Lumbar radiculopathy", "M54.16"),
)

SYMPTOMS: tuple[str, ...] = (
    "chest pain",
    "shortness of breath",
    "productive cough",
    "fever and rigors",
    "abdominal pain",
    "nausea and vomiting",
    "dizziness",
    "fatigue",
    "unintentional weight loss",
    "headache",
    "lower back pain",
    "palpitations",
    "bilateral leg swelling",
    "dysuria",
    "intermittent confusion",
    "a syncopal episode",
    "right upper quadrant pain",
    "wheeze",
    "reduced exercise tolerance",
    "joint pain and stiffness",
    "rectal bleeding",
    "altered bowel habit",
)

EXAM_FINDINGS: tuple[str, ...] = (
    "alert and orientated, afebrile and haemodynamically stable",
    "tachycardic at 112 beats per minute with a blood pressure of 98/60 mmHg",
    "found to have coarse crackles at the right base",
    "tender in the right iliac fossa with guarding",
    "mildly dehydrated but otherwise comfortable at rest",
    "found to have pitting oedema to the mid shins",
    "in atrial fibrillation with a ventricular rate of 130",
    "short of breath at rest with saturations of 89%",
    "neurologically intact with no focal deficit",
    "tender over the lumbar spine with reduced straight leg raise",
)

SPECIALTIES: tuple[str, ...] = (
    "Cardiology",
    "Gastroenterology",
    "Orthopaedics",
    "Neurology",
    "Endocrinology",
    "Respiratory Medicine",
    "Rheumatology",
    "Dermatology",
    "Urology",
    "General Surgery",
    "Nephrology",
    "Haematology",
)

# (drug, strength, form)
DRUGS: tuple[tuple[str, str, str], ...] = (
    ("Amoxicillin", "500 mg", "capsule"),
    ("Atorvastatin", "40 mg", "tablet"),
    ("Metformin", "850 mg", "tablet"),
    ("Lisinopril", "10 mg", "tablet"),
    ("Amlodipine", "5 mg", "tablet"),
    ("Omeprazole", "20 mg", "capsule"),
    ("Levothyroxine", "100 mcg", "tablet"),
    ("Metoprolol succinate", "50 mg", "tablet"),
    ("Furosemide", "40 mg", "tablet"),
    ("Apixaban", "5 mg", "tablet"),
    ("Warfarin", "3 mg", "tablet"),
    ("Paracetamol", "500 mg", "tablet"),
    ("Ibuprofen", "400 mg", "tablet"),
    ("Prednisolone", "5 mg", "tablet"),
    ("Salbutamol", "100 mcg/dose", "inhaler"),
    ("Sertraline", "50 mg", "tablet"),
    ("Gabapentin", "300 mg", "capsule"),
    ("Clopidogrel", "75 mg", "tablet"),
    ("Ramipril", "5 mg", "capsule"),
    ("Bisoprolol", "2.5 mg", "tablet"),
    ("Doxycycline", "100 mg", "capsule"),
    ("Ciprofloxacin", "500 mg", "tablet"),
    ("Insulin glargine", "100 units/mL", "pen"),
    ("Enoxaparin", "40 mg/0.4 mL", "syringe"),
    ("Tramadol", "50 mg", "capsule"),
    ("Ondansetron", "4 mg", "tablet"),
    ("Nitrofurantoin", "100 mg", "capsule"),
    ("Tamsulosin", "0.4 mg", "capsule"),
    ("Losartan", "50 mg", "tablet"),
    ("Allopurinol", "100 mg", "tablet"),
)

SIGS: tuple[str, ...] = (
    "Take 1 tablet by mouth once daily",
    "Take 1 tablet by mouth twice daily with food",
    "Take 1 capsule by mouth three times daily for 7 days",
    "Take 1 tablet at bedtime",
    "Take 1-2 tablets every 6 hours as needed for pain; max 8 in 24 hours",
    "Inhale 2 puffs every 4-6 hours as needed for wheeze",
    "Inject 20 units subcutaneously at night",
    "Take 1 tablet every morning; monitor blood pressure",
    "Take 1 capsule 30 minutes before breakfast",
    "Inject 40 mg subcutaneously once daily for 28 days",
)

# (description, CPT code, typical charge in dollars)
PROCEDURES: tuple[tuple[str, str, int], ...] = (
    ("Office visit, established patient", "99214", 150),
    ("Office visit, new patient", "99203", 180),
    ("Comprehensive metabolic panel", "80053", 45),
    ("Complete blood count w/ diff", "85025", 30),
    ("Chest X-ray, 2 views", "71046", 95),
    ("Electrocardiogram, 12-lead", "93000", 60),
    ("CT abdomen/pelvis w/ contrast", "74177", 850),
    ("MRI lumbar spine w/o contrast", "72148", 1100),
    ("Venipuncture", "36415", 15),
    ("Influenza vaccine", "90686", 40),
    ("Colonoscopy w/ biopsy", "45380", 1450),
    ("Laparoscopic cholecystectomy", "47562", 4200),
    ("ED visit, high severity", "99285", 650),
    ("Physical therapy evaluation", "97161", 120),
    ("Ultrasound abdomen, complete", "76700", 320),
    ("Echocardiogram, complete", "93306", 780),
    ("Lipid panel", "80061", 35),
    ("Hemoglobin A1c", "83036", 25),
    ("Urinalysis, automated", "81003", 12),
    ("Spirometry", "94010", 90),
)

INSURERS: tuple[str, ...] = (
    "BlueHarbor Health Plan",
    "Summit Mutual Insurance",
    "Meridian Care Assurance",
    "Pinecrest Health Partners",
    "Keystone Benefit Co.",
    "Northstar Medical Cover",
    "Crescent Life & Health",
    "Unity Shield Health",
)

CONSENT_PROCEDURES: tuple[str, ...] = (
    "Laparoscopic cholecystectomy",
    "Total knee replacement",
    "Colonoscopy with possible polypectomy",
    "Coronary angiography and possible angioplasty",
    "Transfusion of blood and blood products",
    "General anaesthesia",
    "Cataract extraction with lens implant",
    "Upper gastrointestinal endoscopy",
    "Lumbar puncture",
    "MRI with gadolinium contrast",
    "Inguinal hernia repair",
    "Excision of skin lesion",
)

RISKS: tuple[str, ...] = (
    "bleeding",
    "infection",
    "damage to surrounding structures",
    "blood clots in the legs or lungs",
    "reaction to anaesthesia or medication",
    "the need for further surgery",
    "pain and scarring",
    "nerve injury",
    "allergic reaction",
    "failure of the procedure to relieve symptoms",
)

CONSENT_STATEMENTS: tuple[str, ...] = (
    "The nature of the procedure, its intended benefits and the alternatives have been explained to me.",
    "I understand that a different practitioner with appropriate experience may perform the procedure.",
    "I agree to the use of anaesthesia or sedation as explained to me.",
    "I understand that any tissue removed may be examined and stored as part of my medical record.",
    "I have had the opportunity to ask questions and my questions have been answered.",
    "I understand that no guarantee has been given that a particular person will perform the procedure.",
    "I agree that additional procedures may be carried out if they are necessary to save my life.",
    "I consent to photographs being taken for my medical record.",
    "I have been given a copy of the patient information leaflet for this procedure.",
)
