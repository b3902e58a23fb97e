/** `ol.nn`: modules (Module, Sequential, layers) and initialisation seeding. */
export { Module } from './module';
export {
  Sequential, Linear, Conv2d, Conv2dOptions, ReLU, Flatten, MaxMin, PaddingChannels, FirstChannels, PixelUnshuffle, AvgPool2d,
  manualSeed, ParamOptions,
} from './layers';
export { CayleyConv2d, CayleyConv2dOptions, CayleyLinear, cayleyComplex, cayleyReal } from './cayley';
export { HouseholderActivation, ChannelPool, ChannelPoolOptions } from './activations';
export { LinearNormalized, MLPCurvatureHead, MLPCurvatureHeadOptions } from './heads';
export { CPLDense, CPLConv2d, CPLDenseOptions, CPLConv2dOptions, PowerIterationSchedule } from './cpl';
export { lipschitzBound, denseSpectralUpperBound, convSpectralUpperBound } from './lipschitz';
export { SLLDense, SLLConv2d, SLLDenseOptions, SLLConv2dOptions } from './sll';
export { AOLDense, AOLConv2d, AOLOptions, AOLConv2dOptions } from './aol';
export { SOCConv2d, SOCConv2dOptions } from './soc';
export { Normalize, NormalizeOptions } from './normalize';
