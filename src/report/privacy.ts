// Guards the report against patient identifiers: configuration keys that name identifying DICOM
// attributes are refused, so only pseudonymous keys (e.g. the HMAC patient key from src/dicom) reach the page.
import { ReportError } from './errors.js';

// PS3.15 identifying attributes a config or summary might carry by mistake, matched on the key's letters only.
const IDENTIFYING = [
  'patientname', 'patientid', 'patientbirthdate', 'patientbirthname', 'patientaddress', 'patienttelephonenumbers',
  'otherpatientids', 'otherpatientnames', 'patientmothersbirthname', 'accessionnumber', 'institutionname',
  'institutionaddress', 'referringphysicianname', 'performingphysicianname', 'operatorsname', 'studyid',
  'medicalrecordlocator', 'issuerofpatientid',
];

function letters(key: string): string {
  return key.toLowerCase().replace(/[^a-z]/g, '');
}

/** Throws when a key names an identifying attribute (PatientName, patient_id, accessionNumber, …). */
export function assertNotIdentifying(key: string, where: string): void {
  const k = letters(key);
  const hit = IDENTIFYING.find((id) => k === id || k.endsWith(id));
  if (hit !== undefined) {
    throw new ReportError('HF_REPORT_IDENTIFIER', `${where}: "${key}" looks like a patient identifier and is not allowed in a report.`,
      key, 'pass the pseudonymous patient key (src/dicom pseudonymKey) or leave the field out');
  }
}
