/** `ol.ops`: one typed wrapper per native op. */
export { add, sub, mul, div, neg, abs, exp, log, sqrt, relu, softplus, sigmoid, sign, eq, scale, clamp } from './elementwise';
export { sum, mean, max, ReduceOptions } from './reduce';
export { reshape, permute, transpose, slice, concat } from './layout';
export { matmul, syrk, MatmulOptions, SyrkOptions } from './matmul';
export { pixelUnshuffle, pixelShuffle, padChannels, firstChannels } from './shuffle';
export { avgPool2d, avgPool2dBackward, maxMin, maxMinBackward, AvgPool2dOptions } from './pooling';
export { conv2d, convTranspose2d, conv2dBackwardInput, conv2dBackwardWeight, Conv2dOptions, ConvTranspose2dOptions, ConvGeometryOptions, ConvPair } from './conv2d';
export {
  kernelSelfCorrelation, kernelSelfCorrelationBackward, powerIteration, PowerIterationOperator, PowerIterationOptions,
  PowerIterationResult,
} from './spectral';
export { cplDense, cplConv2d, cplDenseBackward, cplConv2dBackward } from './cpl';
export { rfft2, irfft2, rfft2Backward, irfft2Backward, FFT_SIZES, Irfft2Options } from './fft';
export { solveComplex, inverseComplex, matmulComplex, adjointComplex, MatmulComplexOptions } from './linalg_complex';
export { lipPool, householder } from './activations';
export { sllDense, sllConv2d, aolDense, aolConv2d } from './sll';
export { socSkew, socExp, socExpBackward, socF4Step, SocExpOptions } from './soc';
