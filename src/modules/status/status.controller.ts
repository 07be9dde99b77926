import { Controller, Get, Header } from '@nestjs/common';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { StatusService } from './status.service';

@Controller('api/v1')
export class StatusController {
  constructor(private readonly status: StatusService) {}

  /** The same document as the ConfigMap's `status` key. */
  @Get('status')
  @Header('Cache-Control', 'no-store')
  current(): OperatorStatusDto {
    return this.status.current();
  }
}
