import { Type } from 'class-transformer';
import {
  Equals,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { CLUSTER_ID_FORMAT } from '../registration.constants';

/**
 * kube9-server's settings for this cluster; each optional (SPEC section 3). A setting that is
 * present must be a number; one outside the operator's range is clamped (server-settings.ts),
 * not refused.
 */
export class ServerConfigurationDto {
  @ValidateIf((configuration: ServerConfigurationDto) => configuration.statusUpdateIntervalSeconds !== undefined)
  @IsNumber(
    { allowNaN: false, allowInfinity: false },
    { message: 'configuration.statusUpdateIntervalSeconds must be a number' },
  )
  statusUpdateIntervalSeconds?: number;

  @ValidateIf((configuration: ServerConfigurationDto) => configuration.reregistrationIntervalHours !== undefined)
  @IsNumber(
    { allowNaN: false, allowInfinity: false },
    { message: 'configuration.reregistrationIntervalHours must be a number' },
  )
  reregistrationIntervalHours?: number;

  @IsOptional()
  @IsBoolean({ message: 'configuration.metricsEnabled must be a boolean' })
  metricsEnabled?: boolean;

  @IsOptional()
  @IsInt({ message: 'configuration.metricsIntervalSeconds must be a whole number of 1 or more' })
  @Min(1, { message: 'configuration.metricsIntervalSeconds must be a whole number of 1 or more' })
  metricsIntervalSeconds?: number;
}

/** A 200 from kube9-server; one that breaks these rules is treated as a server error. */
export class RegistrationResponseDto {
  @IsIn(['registered', 'reregistered'], { message: 'status must be registered or reregistered' })
  status: 'registered' | 'reregistered';

  @Matches(CLUSTER_ID_FORMAT, { message: 'clusterId must be cls_ followed by 12 to 64 letters or digits' })
  clusterId: string;

  @Equals('pro', { message: 'tier must be pro' })
  tier: 'pro';

  @IsOptional()
  @IsObject({ message: 'configuration must be an object' })
  @ValidateNested()
  @Type(() => ServerConfigurationDto)
  configuration?: ServerConfigurationDto;

  @IsOptional()
  @IsString({ message: 'message must be a string' })
  @MaxLength(1000, { message: 'message must be at most 1000 characters' })
  message?: string;
}

/** Error bodies: {error, code, message}, 400 may add details. Read leniently: they only explain. */
export interface RegistrationErrorBody {
  error?: unknown;
  code?: unknown;
  message?: unknown;
  details?: unknown;
}
