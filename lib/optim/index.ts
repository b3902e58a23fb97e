/** `ol.optim`: optimizers over fused in-place native updates, and learning-rate schedules. */
export { Optimizer, SGD, Adam, AdamW, SGDOptions, AdamOptions, ParamGroup, Params, ParamState, OptimizerStateDict } from './optimizer';
export { sgdStep, adamStep, SgdStepOptions, AdamStepOptions } from './kernels';
export * as schedules from './schedules';
export { Scheduler, Schedule } from './schedules';
