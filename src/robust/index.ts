// How easily the model is fooled: FGSM, PGD and rotation-translation attacks in [0, 1] pixel space, ε sweeps,
// defences (test-time augmentation, an adversarial-training hook), the robustness table and gallery data.
export { RobustError } from './errors.js';
export type { RobustErrorCode } from './errors.js';
export { Attack, checkEpsilon, checkPixelRange, crossEntropyLoss } from './attack.js';
export type { AttackLoss, AttackOptions } from './attack.js';
export { Fgsm } from './fgsm.js';
export type { FgsmOptions } from './fgsm.js';
export { Pgd, FgsmRandomStart } from './pgd.js';
export type { PgdOptions, FgsmRandomStartOptions } from './pgd.js';
export { RotationTranslationAttack } from './rotationTranslation.js';
export type { RotationTranslationOptions } from './rotationTranslation.js';
export { affineTheta, affineTransform } from './transforms.js';
export type { AffineParams } from './transforms.js';
export { predictProbabilities, modelPredictor, predictedClasses } from './predict.js';
export type { Predictor } from './predict.js';
export { epsilonSweep, DEFAULT_EPSILONS, fgsmAttack } from './sweep.js';
export type { LabelledBatch, AttackFactory, SweepRow, SweepOptions } from './sweep.js';
export { TestTimeAugmentation } from './tta.js';
export type { TtaOptions } from './tta.js';
export { adversarialBatch } from './adversarialTraining.js';
export type { AdversarialBatchOptions } from './adversarialTraining.js';
export { robustnessTable } from './table.js';
export type { DefendedModel, AttackSpec, RobustnessRow, RobustnessTable } from './table.js';
export { adversarialGallery, planarToRgb, writeGalleryPngs } from './gallery.js';
export type { AdversarialExample, GalleryOptions, Prediction, PlanarImage } from './gallery.js';
