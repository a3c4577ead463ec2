/**
 * lstm-wasm: LSTM networks in WebAssembly with a typed API.
 *
 * ```ts
 * import { ready, LSTM } from 'lstm-wasm';
 * await ready();
 * const lstm = new LSTM({ inputSize: 8, hiddenSize: 32, seed: 1 });
 * const { output, hN, cN } = lstm.forward({ data: new Float32Array(5 * 2 * 8), shape: [5, 2, 8] });
 * lstm.dispose();
 * ```
 * @module lstm-wasm
 */
export { ready, runtime, createRuntime, simdSupported, Runtime } from './runtime.js';
export type { ReadyOptions, WasmSource, CoreExports, GemmKernel } from './runtime.js';
export { Tensor, checkTensor } from './tensor.js';
export type { TensorLike } from './tensor.js';
export { ShapeError, CoreError, DisposedError } from './errors.js';
export { LSTM, lstmParamShapes } from './lstm.js';
export { LSTMState } from './state.js';
export type { LSTMOptions, LSTMConfig, LSTMForwardOptions, LSTMForwardResult, LSTMBackwardOptions, LSTMBackwardResult } from './lstm.js';
export { Dense } from './dense.js';
export type { DenseOptions, DenseBackwardResult } from './dense.js';
export { Embedding } from './embedding.js';
export type { EmbeddingOptions, IdsLike } from './embedding.js';
export { Dropout } from './dropout.js';
export type { DropoutOptions } from './dropout.js';
export { Sequential } from './sequential.js';
export type { CompileOptions, LossName, TargetLike, ModelInput, BatchOptions, FitOptions, Logs, Callback, CallbackState, History, TrainingState } from './sequential.js';
export { EarlyStopping, ModelCheckpoint } from './callbacks.js';
export type { EarlyStoppingOptions, ModelCheckpointOptions } from './callbacks.js';
export { Optimizer, SGD, RMSprop, Adam, AdamW, Adagrad, makeOptimizer } from './optim.js';
export type { OptimizerType, SGDOptions, RMSpropOptions, AdamOptions, AdagradOptions, ClipOptions } from './optim.js';
export { StepLR, ExponentialLR, CosineLR, ReduceLROnPlateau, makeSchedule } from './schedule.js';
export type { LRSchedule } from './schedule.js';
export { serializeModel, deserializeModel, FORMAT_VERSION, ModelFormatError } from './io.js';
export type { SerializeOptions, LoadedModel } from './io.js';
export type { StateDict, ParamSpec, ChainLayer, ForwardContext } from './layer.js';
