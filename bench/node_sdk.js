// The official Node.js SDK (@alicloud/openapi-client) making the call our client makes:
// ResumeLiveStream, POST, the four stream parameters, AccessKey testid/testsecret, as
// the generated Live SDK (@alicloud/live20161101) calls it, against FIXED_URL, N times in
// sequence on one keep-alive connection (Node's default agent keeps it alive).
//   node bench/node_sdk.js N v1|v3   → "calls_per_second: X" and "cpu_us_per_call: Y"
// v1: RPC signature v1 (HMAC-SHA1; signatureAlgorithm "v2" selects the SDK's RPC path);
// v3: ACS3-HMAC-SHA256, the SDK's default. NODE_PATH names the npm prefix's node_modules.
'use strict';
const OpenApi = require('@alicloud/openapi-client');
const OpenApiUtil = require('@alicloud/openapi-util').default;
const Util = require('@alicloud/tea-util');

const n = Number(process.argv[2] || 2000);
const sig = process.argv[3] || 'v1';
const url = new URL(process.env.FIXED_URL);

const client = new OpenApi.default(new OpenApi.Config({
  accessKeyId: 'testid', accessKeySecret: 'testsecret', endpoint: url.host, protocol: 'http',
  signatureAlgorithm: sig === 'v1' ? 'v2' : undefined,
}));
const params = new OpenApi.Params({
  action: 'ResumeLiveStream', version: '2016-11-01', protocol: 'HTTP', pathname: '/',
  method: 'POST', authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
});
const runtime = new Util.RuntimeOptions({});

async function call() {
  const request = new OpenApi.OpenApiRequest({ query: OpenApiUtil.query({
    DomainName: 'demo.aliyundoc.com', AppName: 'liveApp', StreamName: 'room42',
    LiveStreamType: 'publisher',
  }) });
  const res = await client.callApi(params, request, runtime);
  if (!res.body || !res.body.RequestId) throw new Error('no RequestId in ' + JSON.stringify(res));
}

(async () => {
  for (let i = 0; i < Math.min(n, 500); i++) await call();   // warm up (JIT, connection)
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  console.log(`calls_per_second: ${Math.round(n / seconds)}`);
  console.log(`cpu_us_per_call: ${((cpu.user + cpu.system) / n).toFixed(2)}`);
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
