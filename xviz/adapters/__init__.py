"""Other people's models seen through xviz's hook schema and model contract, without forking their code."""
