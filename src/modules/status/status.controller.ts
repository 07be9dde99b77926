import { Controller, Get, Header, ServiceUnavailableException } from '@nestjs/common';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { StatusService } from './status.service';

@Controller('api/v1')
export class StatusController {
  constructor(private readonly status: StatusService) {}

  /**
   * The same document as the ConfigMap's `status` key; 503 with the reason from a follower that
   * has not seen the leader's document yet (SPEC section 9).
   */
  @Get('status')
  @Header('Cache-Control', 'no-store')
  current(): OperatorStatusDto {
    const document = this.status.current();
    if (!document)
      throw new ServiceUnavailableException({ status: 'unavailable', reason: this.status.unavailableReason() });
    return document;
  }
}
