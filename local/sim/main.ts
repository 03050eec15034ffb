/**
 * `npx tsx local/sim/main.ts`: runs the simulator until SIGINT/SIGTERM and prints what a client
 * needs. Configured by COMPUTE_SIM_PORT (8775), COMPUTE_SIM_SERVERS (5), COMPUTE_SIM_TENANT
 * (6f70656e737461636b20342065766572) and COMPUTE_SIM_TOKEN (sim-token).
 */
import { optionsFromEnv, startComputeSimulator, type ComputeSimulator } from './index.js';

let sim: ComputeSimulator | undefined;
let stopping = false;

// Installed before anything is printed, so a supervisor that signals as soon as it reads the
// banner finds the handler in place.
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping`);
  (sim ? sim.stop() : Promise.resolve()).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

sim = await startComputeSimulator(optionsFromEnv(process.env));
if (stopping) {
  await sim.stop();
  process.exit(0);
}
const c = sim.credentials;
console.log(
  [
    `compute simulator listening on ${sim.url}`,
    `  keystone  ${sim.keystoneUrl}   (POST /auth/tokens)`,
    `  compute   ${sim.projectComputeUrl}   (also ${sim.computeUrl} without the project)`,
    `  image     ${sim.imageUrl}/v2/images`,
    `  admin     ${sim.url}/_sim`,
    `  tenant    ${sim.tenantId}   (other project: ${sim.otherTenantId})`,
    `  token     X-Auth-Token: ${sim.staticToken ?? '(static token disabled)'}`,
    `  user      ${c.user.name} / ${c.user.password}   (member)`,
    `  admin     ${c.admin.name} / ${c.admin.password}   (admin)`,
    `  other     ${c.other.name} / ${c.other.password}   (member of the other project)`,
    `  app cred  id ${c.applicationCredential.id} secret ${c.applicationCredential.secret}`,
    `  servers   ${sim.serverIds.join('\n            ')}`,
  ].join('\n'),
);
