// The stateful Slack stand-in is a product module now (the sandbox runs Muster against it); tests keep this path.
export * from '../../src/platforms/sandbox/slackWorkspace.ts';
