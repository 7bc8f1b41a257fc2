console.log('nemotron');
