// The nn room's catalogue of coded errors. Codes are stable; a retired code is never reused.
import { HipfracError } from '../util/index.js';

export type NnErrorCode =
  | 'HF_IO_NOT_PTH'
  | 'HF_IO_PTH'
  | 'HF_IO_PTH_BYTEORDER'
  | 'HF_IO_PTH_NO_STATE_DICT'
  | 'HF_IO_READ'
  | 'HF_IO_SAFETENSORS_DTYPE'
  | 'HF_IO_SAFETENSORS_HEADER'
  | 'HF_IO_SAFETENSORS_METADATA'
  | 'HF_IO_SAFETENSORS_NAME'
  | 'HF_IO_TRUNCATED'
  | 'HF_IO_WRITE'
  | 'HF_IO_ZIP'
  | 'HF_IO_ZIP_METHOD'
  | 'HF_NN_BAD_NAME'
  | 'HF_NN_BAD_OPTION'
  | 'HF_NN_BATCHNORM_SINGLE_VALUE'
  | 'HF_NN_DUPLICATE_NAME'
  | 'HF_NN_INIT_SHAPE'
  | 'HF_NN_INPUT_SHAPE'
  | 'HF_NN_NO_MODULE'
  | 'HF_NN_NO_PARAMETER'
  | 'HF_NN_STATE_DICT_MISMATCH'
  | 'HF_OPTIM_BAD_HYPERPARAMETER'
  | 'HF_OPTIM_BAD_STATE'
  | 'HF_OPTIM_DUPLICATE_PARAM'
  | 'HF_OPTIM_NON_LEAF'
  | 'HF_OPTIM_NO_PARAMS';

/** An error of this room: its code is checked against the catalogue above at compile time. */
export class NnError extends HipfracError<NnErrorCode> {}
