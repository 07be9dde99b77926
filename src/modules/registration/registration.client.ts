import { HttpService } from '@nestjs/axios';
import { Injectable } from '@nestjs/common';
import { AxiosError } from 'axios';
import { USER_AGENT } from '../../common/operator-version';
import { OperatorConfig } from '../config/operator-config';
import { RegistrationRequestDto } from './dto/registration-request.dto';
import { outcomeFromAnswer, RegistrationOutcome, TransientFailure } from './registration-outcome';
import { MAX_RESPONSE_BYTES, REGISTER_PATH, REGISTRATION_TIMEOUT_MS } from './registration.constants';

/**
 * POST /v1/operator/register. Never throws: every answer and every failure becomes an
 * outcome whose reason names what happened without the key, the request or its headers
 * (axios errors carry the request configuration, so they are reduced to their code).
 */
@Injectable()
export class RegistrationClient {
  private readonly url: string;
  private readonly host: string;

  constructor(
    private readonly http: HttpService,
    config: OperatorConfig,
  ) {
    const base = new URL(config.serverUrl);
    this.url = `${base.origin}${base.pathname.replace(/\/$/, '')}${REGISTER_PATH}`;
    this.host = base.host;
  }

  async register(apiKey: string, body: RegistrationRequestDto): Promise<RegistrationOutcome> {
    // A deadline for the whole exchange (connect, TLS, proxy tunnel, headers, body). axios's own
    // `timeout` stops at the response headers and then only limits idleness between bytes, so a
    // body trickled a byte at a time kept the request open for hours. Aborting destroys the socket.
    const deadline = AbortSignal.timeout(REGISTRATION_TIMEOUT_MS);
    try {
      const answer = await this.http.axiosRef.post<string>(this.url, JSON.stringify(body), {
        headers: {
          Authorization: `Bearer ${apiKey}`,
          'Content-Type': 'application/json',
          'User-Agent': USER_AGENT,
          Accept: 'application/json',
        },
        signal: deadline,
        maxContentLength: MAX_RESPONSE_BYTES,
        maxRedirects: 0,
        responseType: 'text',
        transformResponse: (data: unknown) => data,
        validateStatus: () => true,
        decompress: true,
      });
      const retryAfter = answer.headers['retry-after'] as string | undefined;
      return outcomeFromAnswer(answer.status, retryAfter, String(answer.data ?? ''), Date.now());
    } catch (error) {
      return {
        kind: 'transient',
        failure: failureKind(error, deadline.aborted),
        reason: this.failureReason(error, deadline.aborted),
      };
    }
  }

  private failureReason(error: unknown, pastDeadline: boolean): string {
    const code = error instanceof AxiosError ? error.code : undefined;
    const message = error instanceof Error ? error.message : '';
    if (pastDeadline || code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
      return `kube9-server at ${this.host} did not answer within ${REGISTRATION_TIMEOUT_MS / 1000} s; retrying with backoff`;
    }
    if (/maxContentLength/i.test(message)) {
      return `kube9-server at ${this.host} sent an answer larger than ${MAX_RESPONSE_BYTES} bytes; treated as a server error`;
    }
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return `Could not reach kube9-server at ${this.host} (${cause ?? code ?? 'network error'}); retrying with backoff`;
  }
}

/** The kind of a failed exchange, for the metrics: the same tests as failureReason's. */
function failureKind(error: unknown, pastDeadline: boolean): TransientFailure {
  const code = error instanceof AxiosError ? error.code : undefined;
  if (pastDeadline || code === 'ECONNABORTED' || code === 'ETIMEDOUT') return 'timeout';
  if (error instanceof Error && /maxContentLength/i.test(error.message)) return 'invalid_response';
  return 'network_error';
}
