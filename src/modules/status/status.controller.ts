import { Controller, Get, Header, ServiceUnavailableException } from '@nestjs/common';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { StatusView } from './status.view';

@Controller('api/v1')
export class StatusController {
  constructor(private readonly view: StatusView) {}

  /**
   * The same document as the ConfigMap's `status` key; 503 with the reason from a follower that
   * has not seen the leader's document yet (SPEC section 9).
   */
  @Get('status')
  @Header('Cache-Control', 'no-store')
  current(): OperatorStatusDto {
    const document = this.view.current();
    if (!document)
      throw new ServiceUnavailableException({ status: 'unavailable', reason: this.view.unavailableReason() });
    return document;
  }
}
