// How much a service matters: `funds` moves money (never touched by automation), `core` is the exchange's
// own path, `standard` is the rest. Its own module so config sections can share it without import cycles.

import { z } from 'zod';

export const criticalitySchema = z.enum(['funds', 'core', 'standard']);
export type Criticality = z.infer<typeof criticalitySchema>;
