import { Inject, Injectable } from '@nestjs/common';
import { Clock, CLOCK } from '../../common/clock';
import { OPERATOR_VERSION } from '../../common/operator-version';
import { OperatorConfig } from '../config/operator-config';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { NO_REGISTRATION, RegistrationView } from './dto/registration-view.dto';
import { buildStatusDocument } from './status-document';

/**
 * Builds the status document (status-document.ts) from what the operator knows now: the
 * registration as the registration module last told it, the namespace, the version and the
 * time. Holds no schedule and writes nothing; StatusService writes what it composes.
 */
@Injectable()
export class StatusComposer {
  private registration: RegistrationView = NO_REGISTRATION;
  private readonly listeners: Array<() => void> = [];

  constructor(
    private readonly config: OperatorConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** The document now; `kubernetesError` is why the latest status write failed (null: it did not). */
  compose(kubernetesError: string | null): OperatorStatusDto {
    return buildStatusDocument({
      registration: this.registration,
      kubernetesError,
      version: OPERATOR_VERSION,
      namespace: this.config.namespace,
      now: new Date(this.clock.now()),
    });
  }

  /** Called by the registration module on every change of its state. */
  setRegistration(view: RegistrationView): void {
    this.registration = view;
    for (const listener of this.listeners) listener();
  }

  /** Called after each setRegistration(). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }
}
