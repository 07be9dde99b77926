import { Type } from 'class-transformer';
import {
  Equals,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';

export class ServerConfigurationDto {
  @IsInt({ message: 'configuration.statusUpdateIntervalSeconds must be a whole number from 10 to 3600' })
  @Min(10, { message: 'configuration.statusUpdateIntervalSeconds must be a whole number from 10 to 3600' })
  @Max(3600, { message: 'configuration.statusUpdateIntervalSeconds must be a whole number from 10 to 3600' })
  statusUpdateIntervalSeconds: number;

  @IsInt({ message: 'configuration.reregistrationIntervalHours must be a whole number from 1 to 720' })
  @Min(1, { message: 'configuration.reregistrationIntervalHours must be a whole number from 1 to 720' })
  @Max(720, { message: 'configuration.reregistrationIntervalHours must be a whole number from 1 to 720' })
  reregistrationIntervalHours: number;

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

  @Matches(/^cls_[A-Za-z0-9]{12,64}$/, { message: 'clusterId must be cls_ followed by 12 to 64 letters or digits' })
  clusterId: string;

  @Equals('pro', { message: 'tier must be pro' })
  tier: 'pro';

  @IsObject({ message: 'configuration must be an object' })
  @ValidateNested()
  @Type(() => ServerConfigurationDto)
  configuration: ServerConfigurationDto;

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
