const fs = require('fs');
console.log(`node from store greets ${process.env.INPUT_WHO}`);
fs.appendFileSync(process.env.GITHUB_OUTPUT, `greeting=hello ${process.env.INPUT_WHO}\n`);
