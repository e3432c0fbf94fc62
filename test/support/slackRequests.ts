// Signed Slack request builders live with the sandbox, which sends them for real; tests keep this path.
export * from '../../src/platforms/sandbox/slackRequests.ts';
