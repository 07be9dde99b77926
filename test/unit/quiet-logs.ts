// Unit specs: Nest's logger prints nothing (a spec that asserts a log spies on Logger).
import { Logger } from '@nestjs/common';

Logger.overrideLogger(false);
