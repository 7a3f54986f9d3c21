// The service dependency graph from config: who calls whom, and which anomalies can share a cause.

import type { ServiceSpec, Topology } from './config/schema';

export class ServiceGraph {
  private readonly services: Map<string, ServiceSpec>;
  /** service -> everything it depends on, directly or not. */
  private readonly downstream = new Map<string, Set<string>>();

  constructor(topology: Topology) {
    this.services = new Map(topology.services.map((s) => [s.name, s]));
    for (const name of this.services.keys()) this.downstream.set(name, this.reach(name));
  }

  get(name: string): ServiceSpec | undefined {
    return this.services.get(name);
  }

  names(): string[] {
    return [...this.services.keys()];
  }

  /** Services that call `name` directly. */
  callersOf(name: string): string[] {
    return [...this.services.values()].filter((s) => s.dependsOn.includes(name)).map((s) => s.name);
  }

  /** True when `caller` depends on `dependency`, directly or through others. */
  dependsOnTransitively(caller: string, dependency: string): boolean {
    return this.downstream.get(caller)?.has(dependency) ?? false;
  }

  /** True when one service depends on the other, directly or through others: a fault can travel between them. */
  related(a: string, b: string): boolean {
    if (a === b) return true;
    return (this.downstream.get(a)?.has(b) ?? false) || (this.downstream.get(b)?.has(a) ?? false);
  }

  private reach(from: string): Set<string> {
    const seen = new Set<string>();
    const stack = [...(this.services.get(from)?.dependsOn ?? [])];
    while (stack.length > 0) {
      const next = stack.pop()!;
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(this.services.get(next)?.dependsOn ?? []));
    }
    return seen;
  }
}
