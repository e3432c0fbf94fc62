import type { AddUserInput } from './slackWorkspace.ts';

/**
 * The built-in workspace's people: one per role that Muster's default policy asks for somewhere (the on-call
 * engineer who declares, the three production-deploy approvers, the CAB's seats, an admin). Roles are granted at
 * first start by the admin with signed `/muster grant` commands, through the same path as in a real workspace.
 */
export interface SandboxPerson extends AddUserInput {
  /** what the people picker shows under the name */
  title: string;
  /** Muster roles the admin grants at first start */
  roles: string[];
}

export const SANDBOX_ADMIN = 'U0SBADMIN';

export const SANDBOX_PEOPLE: readonly SandboxPerson[] = [
  { id: 'U0SBONCALL', name: 'dana', real_name: 'Dana Okafor', title: 'On-call engineer', roles: ['oncall', 'engineer'] },
  { id: 'U0SBRELMGR', name: 'riley', real_name: 'Riley Chen', title: 'Release manager', roles: ['release_manager'] },
  { id: 'U0SBCTO', name: 'sam', real_name: 'Sam Patel', title: 'CTO', roles: ['cto'] },
  { id: 'U0SBSECLEAD', name: 'alex', real_name: 'Alex Morgan', title: 'Security lead', roles: ['security_lead'] },
  { id: 'U0SBTECHLEAD', name: 'kim', real_name: 'Kim Novak', title: 'Tech lead', roles: ['tech_lead'] },
  { id: 'U0SBQALEAD', name: 'jordan', real_name: 'Jordan Reyes', title: 'QA lead', roles: ['qa_lead'] },
  { id: 'U0SBPO', name: 'pat', real_name: 'Pat Kowalski', title: 'Product owner', roles: ['product_owner'] },
  { id: 'U0SBDEV', name: 'casey', real_name: 'Casey Lin', title: 'Engineer', roles: ['engineer'] },
  { id: SANDBOX_ADMIN, name: 'admin', real_name: 'Avery Admin', title: 'Muster admin', roles: [] },
];

/** Channels the sandbox policy names (src/platforms/sandbox/policy.yml), created with the workspace. */
export const SANDBOX_CHANNELS = [
  { name: 'incidents', purpose: 'Incident announcements from Muster' },
  { name: 'deploys', purpose: 'Deployment approvals' },
  { name: 'changes', purpose: 'Change requests and the CAB' },
  { name: 'leadership', purpose: 'Emergency changes in a freeze are announced here' },
] as const;
