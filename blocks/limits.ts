/** Slack's Block Kit limits we design around (see ENVIRONMENT.md). */
export const LIMITS = {
  blocksPerMessage: 50,
  blocksPerView: 100,
  sectionText: 3000,
  headerText: 150,
  buttonLabel: 75,
  buttonValue: 2000,
  privateMetadata: 3000,
  fallbackText: 4000,
} as const;

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
