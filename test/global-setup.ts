// Runs once before the suite: the project's scripts must run on Node 24, the major production runs.
export default function setup(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== 24) throw new Error(`Ferry's tests run on Node 24; this is Node ${process.versions.node}`);
}
