// Every `/migrate` subcommand, once: the parser's usage lines, `/migrate help` and the manifest's
// usage hint all come from this table (a test holds manifest.yml to `usageHint()`).

export const commandTable = [
  { name: 'help', usage: '/migrate help', does: 'this list' },
  {
    name: 'list',
    usage: '/migrate list',
    does: 'scheduled starts, runs (active first), and the services × environments matrix',
  },
  {
    name: 'plan',
    usage: '/migrate plan <service> [env]',
    does: "dry run: what each step would change; nothing is changed. Without env: the service's environments",
  },
  {
    name: 'start',
    usage: '/migrate start <service> <env> [--at <ISO time>] [--override <reason>]',
    does: "posts a status message here and runs the plan; with --at, starts it then, on your behalf; with --override, an approver starts it outside the plan's change windows, the reason going in the timeline",
  },
  { name: 'status', usage: '/migrate status [run]', does: "the run's status, for your eyes only" },
  { name: 'note', usage: '/migrate note [run] <text>', does: "adds a note to the run's timeline" },
  {
    name: 'incident',
    usage: '/migrate incident [run] <sev1|sev2|sev3> <summary>',
    does: 'shows on the status message until resolved',
  },
  {
    name: 'incident-resolve',
    usage: '/migrate incident resolve [run]',
    does: "resolves the run's latest open incident",
  },
  { name: 'rollback', usage: '/migrate rollback [run]', does: 'undoes what went through, newest first' },
  {
    name: 'abort',
    usage: '/migrate abort [run | scheduled start]',
    does: 'stops the run (nothing is undone), or cancels a scheduled start such as s3',
  },
  {
    name: 'report',
    usage: '/migrate report [run] | --all',
    does: "downtime, step timings and checks, as files in the run's thread; --all: this channel's runs",
  },
  {
    name: 'lock',
    usage: '/migrate lock <service> <env> <reason>',
    does: 'no run may start there until unlocked',
  },
  { name: 'unlock', usage: '/migrate unlock <service> <env>', does: 'lifts the lock' },
  {
    name: 'maintenance',
    usage: '/migrate maintenance <service> <env> on|off',
    does: 'an ad hoc toggle, approved and recorded like a step, even while the service is locked',
  },
  { name: 'crons', usage: '/migrate crons <service> <env> disable|enable', does: 'likewise, for cron jobs' },
] as const satisfies ReadonlyArray<{ name: string; usage: string; does: string }>;

export type CommandName = (typeof commandTable)[number]['name'];

export const usage = Object.fromEntries(commandTable.map((c) => [c.name, c.usage])) as Record<
  CommandName,
  string
>;

/** The manifest's usage hint: every usage line without `/migrate`, alternatives joined by " | ". */
export function usageHint(): string {
  return commandTable
    .map((c) =>
      c.usage
        .replace(/^\/migrate /, '')
        .replace(/\|/g, ' or ')
        .replace(/ {2,}/g, ' '),
    )
    .join(' | ');
}
