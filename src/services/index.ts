import { AdminService } from './admin.ts';
import type { Kernel } from './kernel.ts';

export interface Services {
  kernel: Kernel;
  admin: AdminService;
}

export function createServices(kernel: Kernel): Services {
  return { kernel, admin: new AdminService(kernel) };
}
