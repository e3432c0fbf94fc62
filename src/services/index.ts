import { AdminService } from './admin.ts';
import { IncidentService } from './incidents.ts';
import { NudgeService } from './nudges.ts';
import { ApprovalService } from './approvals.ts';
import { ChangeService } from './changes.ts';
import { EvidenceService } from './evidence.ts';
import type { Kernel } from './kernel.ts';

export interface Services {
  kernel: Kernel;
  admin: AdminService;
  incidents: IncidentService;
  nudges: NudgeService;
  approvals: ApprovalService;
  changes: ChangeService;
  evidence: EvidenceService;
}

export function createServices(kernel: Kernel): Services {
  const incidents = new IncidentService(kernel);
  const approvals = new ApprovalService(kernel);
  return {
    kernel,
    admin: new AdminService(kernel),
    incidents,
    nudges: new NudgeService(kernel, incidents),
    approvals,
    changes: new ChangeService(kernel, approvals, incidents),
    evidence: new EvidenceService(kernel),
  };
}
