/** `ol.nn`: modules (Module, Sequential, layers) and initialisation seeding. */
export { Module } from './module';
export {
  Sequential, Linear, Conv2d, Conv2dOptions, ReLU, Flatten, MaxMin, PaddingChannels, FirstChannels, PixelUnshuffle, AvgPool2d,
  manualSeed, ParamOptions,
} from './layers';
export { Normalize, NormalizeOptions } from './normalize';
