"""The PyFlink-free inference engine: types, binding, column conversions, the engine."""
