// Defaults shared by every runtime.

import { type DetectionConfig, detectionSchema } from './config/schema';

export const DEFAULT_DETECTION: DetectionConfig = detectionSchema.parse({});
