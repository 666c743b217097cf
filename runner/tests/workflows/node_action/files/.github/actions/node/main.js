const fs = require('fs');
const name = process.env.INPUT_NAME;
console.log(`main ran for ${name} with state ${process.env.STATE_from_pre}`);
fs.appendFileSync(process.env.GITHUB_OUTPUT, `greeting=hi ${name}\n`);
fs.appendFileSync(process.env.GITHUB_STATE, 'from_main=main-value\n');
console.log('::notice title=Node::main notice');
