import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';

/**
 * The one way services schedule repeating or delayed work: through Nest's SchedulerRegistry,
 * by name, replacing what ran under that name before, and all removed on shutdown.
 */
@Injectable()
export class NamedTimers implements OnApplicationShutdown {
  private readonly logger = new Logger(NamedTimers.name);
  private readonly owned = new Set<string>();

  constructor(private readonly registry: SchedulerRegistry) {}

  every(name: string, ms: number, work: () => unknown): void {
    this.clear(name);
    this.registry.addInterval(
      name,
      setInterval(() => this.run(name, work), ms),
    );
    this.owned.add(name);
  }

  after(name: string, ms: number, work: () => unknown): void {
    this.clear(name);
    const timer = setTimeout(() => {
      this.clear(name);
      this.run(name, work);
    }, ms);
    this.registry.addTimeout(name, timer);
    this.owned.add(name);
  }

  clear(name: string): void {
    if (!this.owned.delete(name)) return;
    if (this.registry.doesExist('interval', name)) this.registry.deleteInterval(name);
    if (this.registry.doesExist('timeout', name)) this.registry.deleteTimeout(name);
  }

  clearAll(): void {
    for (const name of [...this.owned]) this.clear(name);
  }

  onApplicationShutdown(): void {
    this.clearAll();
  }

  private run(name: string, work: () => unknown): void {
    Promise.resolve()
      .then(work)
      .catch((error: unknown) => this.logger.error(`Scheduled work "${name}" failed: ${String(error)}`));
  }
}
