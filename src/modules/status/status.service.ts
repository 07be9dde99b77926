import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { V1ConfigMap, V1OwnerReference } from '@kubernetes/client-node';
import { backoffDelay } from '../../common/backoff';
import { NamedTimers } from '../../common/named-timers.service';
import { OPERATOR_VERSION } from '../../common/operator-version';
import { OperatorConfig } from '../config/operator-config';
import { describeKubeError, kubeStatusCode } from '../kubernetes/kube-errors';
import { KubernetesClients } from '../kubernetes/kubernetes-clients';
import { KUBERNETES_CLIENTS } from '../kubernetes/kubernetes.constants';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { NO_REGISTRATION, RegistrationView } from './dto/registration-view.dto';
import { buildStatusDocument, differsForReaders } from './status-document';
import {
  SHUTDOWN_WRITE_TIMEOUT_MS,
  STATUS_CONFIGMAP_KEY,
  STATUS_CONFIGMAP_NAME,
  STATUS_LABELS,
  STATUS_PUBLISH_TIMER,
  STATUS_RETRY_TIMER,
  WRITE_RETRY_BASE_MS,
} from './status.constants';

/** The outcome of the latest status write, for the health indicators. */
export interface WriteRecord {
  lastAttemptAt?: Date;
  lastSuccessAt?: Date;
  error: string | null;
}

/**
 * Publishes the status document: to the ConfigMap on start-up, every interval and within a
 * moment of any change a reader would notice; and to REST (current()). A write is one PUT of
 * the whole object (no read first); a missing ConfigMap is created. Failures are reported in
 * the status (unhealthy) and retried with backoff; they never escape to the process.
 */
@Injectable()
export class StatusService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(StatusService.name);
  private registration: RegistrationView = NO_REGISTRATION;
  private intervalSeconds: number;
  private published?: OperatorStatusDto;
  private readonly write: WriteRecord = { error: null };
  private consecutiveWriteFailures = 0;
  private ownerReference?: V1OwnerReference;
  private ownerLookupDone = false;
  private inFlight?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    private readonly config: OperatorConfig,
    @Inject(KUBERNETES_CLIENTS) private readonly kube: KubernetesClients,
    private readonly timers: NamedTimers,
  ) {
    this.intervalSeconds = config.statusUpdateIntervalSeconds;
  }

  onApplicationBootstrap(): void {
    this.timers.every(STATUS_PUBLISH_TIMER, this.intervalSeconds * 1000, () => this.publish());
    void this.publish();
  }

  /** Stops the schedule and writes a last status, within a bounded time. */
  async beforeApplicationShutdown(): Promise<void> {
    this.timers.clear(STATUS_PUBLISH_TIMER);
    this.timers.clear(STATUS_RETRY_TIMER);
    const last = this.publish().finally(() => (this.stopped = true));
    await Promise.race([last, new Promise((resolve) => setTimeout(resolve, SHUTDOWN_WRITE_TIMEOUT_MS).unref())]);
  }

  /** The document as readers see it now: the one last written, or the current one when writing fails. */
  current(): OperatorStatusDto {
    if (this.published && this.write.error === null) return this.published;
    return this.compose(this.write.error);
  }

  get writeRecord(): Readonly<WriteRecord> {
    return this.write;
  }

  get interval(): number {
    return this.intervalSeconds;
  }

  /** Called by the registration module on every change of its state. */
  setRegistration(view: RegistrationView): void {
    this.registration = view;
    if (differsForReaders(this.published, this.compose(null))) void this.publish();
  }

  /** A new interval (kube9-server's configuration) takes effect at once, without a restart. */
  setInterval(seconds: number): void {
    if (seconds === this.intervalSeconds) return;
    this.logger.log(`Status interval changed from ${this.intervalSeconds} s to ${seconds} s`);
    this.intervalSeconds = seconds;
    if (!this.stopped) this.timers.every(STATUS_PUBLISH_TIMER, seconds * 1000, () => this.publish());
  }

  /** Writes now; concurrent calls collapse into at most one more write after the one in flight. */
  publish(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.writeLoop().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async writeLoop(): Promise<void> {
    do {
      this.again = false;
      await this.writeOnce();
    } while (this.again && !this.stopped);
  }

  private compose(kubernetesError: string | null): OperatorStatusDto {
    return buildStatusDocument({
      registration: this.registration,
      kubernetesError,
      version: OPERATOR_VERSION,
      namespace: this.config.namespace,
      now: new Date(),
    });
  }

  /** The document written assumes the write succeeds; if it fails, readers learn why through REST. */
  private async writeOnce(): Promise<void> {
    const document = this.compose(null);
    this.write.lastAttemptAt = new Date();
    try {
      await this.putConfigMap(document);
      this.recordSuccess(document);
    } catch (error) {
      this.recordFailure(describeKubeError(`write ConfigMap ${this.config.namespace}/${STATUS_CONFIGMAP_NAME}`, error));
    }
  }

  private async putConfigMap(document: OperatorStatusDto): Promise<void> {
    const namespace = this.config.namespace;
    const body = await this.configMapFor(document);
    try {
      await this.kube.core.replaceNamespacedConfigMap({ name: STATUS_CONFIGMAP_NAME, namespace, body });
    } catch (error) {
      if (kubeStatusCode(error) !== 404) throw error;
      try {
        await this.kube.core.createNamespacedConfigMap({ namespace, body });
      } catch (createError) {
        if (kubeStatusCode(createError) !== 409) throw createError;
        await this.kube.core.replaceNamespacedConfigMap({ name: STATUS_CONFIGMAP_NAME, namespace, body });
      }
    }
  }

  private async configMapFor(document: OperatorStatusDto): Promise<V1ConfigMap> {
    const ownerReference = await this.deploymentOwnerReference();
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: STATUS_CONFIGMAP_NAME,
        namespace: this.config.namespace,
        labels: { ...STATUS_LABELS },
        ...(ownerReference ? { ownerReferences: [ownerReference] } : {}),
      },
      data: { [STATUS_CONFIGMAP_KEY]: JSON.stringify(document) },
    };
  }

  /**
   * The operator's own Deployment as the ConfigMap's owner, so deleting the Deployment
   * (helm uninstall) garbage-collects the status. Looked up once; a transient failure is
   * retried on the next write, a 403/404 is reported once and given up.
   */
  private async deploymentOwnerReference(): Promise<V1OwnerReference | undefined> {
    const name = this.config.deploymentName;
    if (!name || this.ownerLookupDone) return this.ownerReference;
    try {
      const deployment = await this.kube.apps.readNamespacedDeployment({ name, namespace: this.config.namespace });
      this.ownerReference = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name,
        uid: deployment.metadata!.uid!,
        blockOwnerDeletion: false,
        controller: false,
      };
      this.ownerLookupDone = true;
    } catch (error) {
      const code = kubeStatusCode(error);
      if (code === 403 || code === 404) {
        this.ownerLookupDone = true;
        this.logger.warn(
          `${describeKubeError(`read Deployment ${this.config.namespace}/${name}`, error)}; the status ConfigMap will not be removed with the Deployment`,
        );
      }
    }
    return this.ownerReference;
  }

  private recordSuccess(document: OperatorStatusDto): void {
    const changed = differsForReaders(this.published, document);
    const recovered = this.write.error !== null;
    this.published = document;
    this.write.lastSuccessAt = new Date();
    this.write.error = null;
    this.consecutiveWriteFailures = 0;
    this.timers.clear(STATUS_RETRY_TIMER);
    if (recovered) this.logger.log('Status writes to the Kubernetes API work again');
    if (changed || recovered) this.logStatus(document);
  }

  private recordFailure(reason: string): void {
    const firstFailure = this.write.error === null;
    this.write.error = reason;
    this.consecutiveWriteFailures += 1;
    if (firstFailure) {
      this.logger.error(reason);
      this.logStatus(this.compose(reason));
    } else {
      this.logger.debug(`Status write failed again (${this.consecutiveWriteFailures} in a row): ${reason}`);
    }
    if (this.stopped) return;
    const delay = backoffDelay(this.consecutiveWriteFailures, {
      baseMs: WRITE_RETRY_BASE_MS,
      capMs: this.intervalSeconds * 1000,
      jitter: 0.5,
    });
    this.timers.after(STATUS_RETRY_TIMER, delay, () => this.publish());
  }

  private logStatus(document: OperatorStatusDto): void {
    const error = document.error ? `: ${document.error}` : '';
    this.logger.log(`Status: mode=${document.mode} tier=${document.tier} health=${document.health} registered=${document.registered}${error}`);
  }
}
