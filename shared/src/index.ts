export * from "./cacheKeys";
export * from "./phasePlan";
export * from "./prices";
export * from "./problem";
export * from "./protocol";
export * from "./request";
export * from "./signing";
export * from "./sizeSweep";
